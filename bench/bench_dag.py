"""Benchmark the dry-run DAG build (`snakemake -n`) at cohort sizes up to the papers' (~1,100).

The dry run includes the ingest checkpoint's re-evaluation, so that the DAG holds every job of
every case: each size's working folder is faked as "ingest finished" (a generated validated
manifest, qc.csv, passed_cases.txt and empty placeholder image/mask files, written oldest
first so that nothing upstream looks outdated). No image is read: this measures Snakemake's
DAG construction and the workflow's input functions, which is what grows with the cohort.

Usage: python bench/bench_dag.py [--sizes 120 1100] [--repeat 1] [--out bench/results/dag.csv]
       [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
LEVELS = ["T11", "T12", "L1", "L2", "L3", "L4"]
SPLITS = ["train", "internal", "external", "prospective"]
VCF = ["acute", "chronic", "pathologic"]


def host() -> str:
    return f"{platform.machine()} ({os.cpu_count()} cpus)"


def case_id(i: int) -> str:
    return "c" + hashlib.sha256(f"bench-{i}".encode()).hexdigest()[:10]


def fake_cohort(workdir: Path, n: int, seed: int = 0, vertebrae: int = 4, sites: int = 4) -> int:
    """A finished ingest of n patients: what the dry run reads, as placeholders. Rows: n x
    `vertebrae`; about a third fractured, a quarter of the cases with a reader-2 mask."""
    rng = np.random.default_rng(seed)
    files = workdir / "resources" / "fake"
    files.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        cid = case_id(i)
        site = f"site{i % sites}"
        split = SPLITS[0] if i % 5 < 3 else SPLITS[1 + i % 3]
        mask = files / f"{cid}_mask.nii.gz"
        r2 = files / f"{cid}_mask_r2.nii.gz" if rng.random() < 0.25 else None
        for k in range(vertebrae):
            fx = int(rng.random() < 0.35)
            rows.append({
                "case_id": cid, "site": site, "split": split, "dicom_dir": str(files / cid),
                "mask_path": str(mask), "mask_label": k + 1, "level": LEVELS[k],
                "mask_reader2_path": str(r2) if r2 else "", "fracture": fx,
                "astlof_class": int(rng.integers(0, 3)), "vcf_type": VCF[int(rng.integers(0, 3))] if fx else "",
                "xray_lateral_path": str(files / f"{cid}_lat.png"),
                "lat_x0": 0, "lat_y0": 0, "lat_x1": 10, "lat_y1": 10,
                "age": 70, "sex": "F", "t_score": -2.5, "pain": 5,
                "astlof_morphology": 0, "astlof_mri": 0, "astlof_bmd": 0, "astlof_pain": 0})
    cases = sorted({r["case_id"] for r in rows})
    # Oldest first: raw manifest, validated manifest, ingest outputs, gate, placeholders.
    import pandas as pd

    raw = workdir / "resources" / "synthetic" / "manifest.csv"
    raw.parent.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(rows)
    table.to_csv(raw, index=False)
    validated = workdir / "resources" / "cohort" / "manifest.validated.csv"
    validated.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(validated, index=False)
    for r in rows:
        for p in (r["mask_path"], r["mask_reader2_path"]):
            if p:
                Path(p).touch()
    images = workdir / "results" / "ingest" / "images"
    images.mkdir(parents=True, exist_ok=True)
    for c in cases:
        (images / f"{c}.nii.gz").touch()
    pd.DataFrame({"case_id": cases, "status": "ok"}).to_csv(workdir / "results/ingest/qc.csv", index=False)
    (workdir / "results/ingest/passed_cases.txt").write_text("\n".join(cases) + "\n")
    # The directory output's own mtime after its files; the gate's last.
    now = time.time()
    for i, p in enumerate([raw, validated, *images.iterdir(), images, workdir / "results/ingest/qc.csv",
                           workdir / "results/ingest/passed_cases.txt"]):
        os.utime(p, (now - 100 + (0 if i < 2 else 50) + (1 if p.name == "passed_cases.txt" else 0),) * 2)
    os.utime(raw, (now - 200,) * 2)
    return len(cases)


def dry_run(workdir: Path) -> tuple[float, dict[str, int]]:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--configfile", str(REPO / "config.yaml"), "-n", "--quiet", "rules"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return wall, planned_jobs(proc.stdout + proc.stderr)


def planned_jobs(log: str) -> dict[str, int]:
    """The job-count table of a dry run ("job  count" ... "total  N"), as {rule: count}."""
    counts, inside = {}, False
    for line in log.splitlines():
        if re.match(r"^job\s+count\s*$", line):
            inside, counts = True, {}
            continue
        if inside:
            m = re.match(r"^(\S+)\s+(\d+)\s*$", line)
            if m:
                if m.group(1) == "total":
                    inside = False
                else:
                    counts[m.group(1)] = int(m.group(2))
    return counts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[120, 1100], help="patients (default: 120 1100)")
    ap.add_argument("--repeat", type=int, default=1, help="dry runs per size; the fastest is kept")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "dag.csv")
    ap.add_argument("--keep", type=Path, help="keep the working folders here")
    a = ap.parse_args(argv)
    root = a.keep or Path(tempfile.mkdtemp(prefix="bench_dag_"))
    rows = []
    for n in a.sizes:
        workdir = root / f"n{n}"
        workdir.mkdir(parents=True, exist_ok=True)
        fake_cohort(workdir, n)
        walls, jobs = [], {}
        for _ in range(a.repeat):
            wall, jobs = dry_run(workdir)
            walls.append(wall)
        rows.append({"patients": n, "jobs": sum(jobs.values()), "dry_run_s": round(min(walls), 2),
                     "s_per_1000_jobs": round(1000 * min(walls) / max(1, sum(jobs.values())), 2),
                     "host": host()})
        print(rows[-1], flush=True)
    if len(rows) >= 2:
        x = np.array([r["jobs"] for r in rows], float)
        y = np.array([r["dry_run_s"] for r in rows], float)
        slope, icpt = np.polyfit(x, y, 1)
        print(f"linear fit: {1000 * slope:.2f} s per 1000 jobs + {icpt:.2f} s")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with a.out.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"-> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
