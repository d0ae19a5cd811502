"""Per-rule wall time of a finished Snakemake run, from its log (no `benchmark:` files needed).

Reads the timestamps Snakemake prints before each job and at each "Finished jobid", and
writes one row per rule: jobs, summed seconds, mean, max. The summed seconds over the cores
give a lower bound of the run's wall time; the largest single job is where a run waits.

Usage: python bench/job_times.py .snakemake/log/<run>.snakemake.log [--csv bench/out/job_times.csv]
(of a run made with `snakemake --workflow-profile none ...`: the default profile's quiet rules
leave the job blocks, and so their start times, out of the log)
"""

from __future__ import annotations

import argparse
import collections
import csv
import datetime as dt
import re
from pathlib import Path

_STAMP = re.compile(r"\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]")
_START = re.compile(r"\s+jobid: (\d+)")
_END = re.compile(r"Finished jobid: (\d+) \(Rule: (\w+)\)")


def job_times(lines) -> dict[str, list[float]]:
    """Rule -> list of job durations in seconds."""
    now, start, out = None, {}, collections.defaultdict(list)
    for line in lines:
        if m := _STAMP.match(line):
            now = dt.datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
        elif m := _START.match(line):
            start[m.group(1)] = now
        elif (m := _END.match(line)) and m.group(1) in start:
            out[m.group(2)].append((now - start[m.group(1)]).total_seconds())
    return dict(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log", help="a Snakemake log (.snakemake/log/*.snakemake.log or captured stderr)")
    ap.add_argument("--csv", default="", help="also write the table to this CSV")
    a = ap.parse_args(argv)
    times = job_times(Path(a.log).read_text().splitlines())
    if not times:
        raise SystemExit(f"{a.log}: no job start lines ('    jobid: N'); the default workflow profile "
                         "(profiles/default, quiet: [rules]) leaves them out: time the run with "
                         "`snakemake --workflow-profile none ...`")
    rows = sorted(([r, len(v), sum(v), sum(v) / len(v), max(v)] for r, v in times.items()), key=lambda r: -r[2])
    for r in rows:
        print(f"{r[0]:32s} jobs={r[1]:4d} sum={r[2]:7.0f}s mean={r[3]:6.1f}s max={r[4]:6.0f}s")
    print(f"{'all rules':32s} jobs={sum(r[1] for r in rows):4d} sum={sum(r[2] for r in rows):7.0f}s")
    if a.csv:
        Path(a.csv).parent.mkdir(parents=True, exist_ok=True)
        with open(a.csv, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["rule", "jobs", "seconds_sum", "seconds_mean", "seconds_max"])
            w.writerows(rows)


if __name__ == "__main__":
    main()
