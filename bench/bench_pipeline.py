"""Benchmark the whole pipeline on the local executor; writes CSVs and a plot under bench/out/.

Three parts (each can be chosen with --only):

* pipeline  - wall time of `snakemake --cores C` from nothing at several synthetic cohort sizes
              (default 8/16/32 patients), with a least-squares line: is it linear in patients?
              -> pipeline.csv, pipeline.png
* radiomics - `vfrepro radiomics` over the same preprocessed cases with 1 worker vs 2 workers
              (what --cores 1 / --cores 2 give this per-case rule) -> radiomics_cores.csv
* overhead  - Snakemake's own cost per job: N trivial `touch` jobs (N = 50/100/200), slope of
              wall time over N; plus the dry run (-n) of the real DAG of the smallest size
              -> snakemake_overhead.csv

The study branches follow config.yaml unless --no-studies (shared stages only). Sizes below 8
patients may be too few for the studies' cross-validation.

Usage: python bench/bench_pipeline.py [--sizes 8 16 32] [--cores 2] [--only pipeline radiomics
       overhead] [--no-studies] [--from-run DIR] [--keep DIR] [--out bench/out]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from vfrepro import registry

REPO = Path(__file__).resolve().parents[1]
STUDIES = registry.names()


def host() -> str:
    return f"{platform.machine()} ({os.cpu_count()} cpus)"


def snakemake(workdir: Path, *args: str, snakefile: Path = REPO / "Snakefile") -> tuple[float, str]:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "-d", str(workdir), *args]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-6000:]}")
    return wall, proc.stdout + proc.stderr


def jobs_done(log: str) -> int:
    counts = [int(m.group(1)) for m in re.finditer(r"(\d+) of \d+ steps \(100%\) done", log)]
    return sum(counts)  # a checkpoint splits the run into two progress counts


def write_config(workdir: Path, n: int, no_studies: bool) -> Path:
    lines = ["cohort:", "  synthetic:", f"    n_patients: {n}", "    seed: 7"]
    if no_studies:
        lines += [f"{s}:\n  enabled: false" for s in STUDIES if f"\n{s}:" in (REPO / "config.yaml").read_text()]
    path = workdir / "bench.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def bench_pipeline(sizes, cores, no_studies, root: Path, out: Path) -> list[dict]:
    rows = []
    for n in sizes:
        workdir = root / f"n{n}"
        workdir.mkdir(parents=True, exist_ok=True)
        cfg = write_config(workdir, n, no_studies)
        wall, log = snakemake(workdir, "--configfile", str(cfg), "--cores", str(cores),
                              "--resources", "gpu=0")
        rows.append({"patients": n, "cores": cores, "studies": "none" if no_studies else "config",
                     "jobs": jobs_done(log), "wall_s": round(wall, 1), "host": host()})
        print(rows[-1], flush=True)
    if len(rows) >= 2:
        x = np.array([r["patients"] for r in rows], float)
        y = np.array([r["wall_s"] for r in rows], float)
        slope, icpt = np.polyfit(x, y, 1)
        pred = slope * x + icpt
        r2 = 1 - ((y - pred) ** 2).sum() / max(((y - y.mean()) ** 2).sum(), 1e-12)
        for r in rows:
            r.update(fit_s_per_patient=round(slope, 2), fit_intercept_s=round(icpt, 1), fit_r2=round(r2, 4))
        plot(x, y, slope, icpt, r2, cores, out / "pipeline.png")
    write_csv(rows, out / "pipeline.csv")
    return rows


def plot(x, y, slope, icpt, r2, cores, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=120)
    ax.plot(x, y, "o", label="measured")
    xs = np.linspace(0, x.max() * 1.05, 50)
    ax.plot(xs, slope * xs + icpt, "-", label=f"{slope:.1f} s/patient + {icpt:.0f} s (R²={r2:.3f})")
    ax.set_xlabel("patients (synthetic cohort)")
    ax.set_ylabel("wall time (s)")
    ax.set_title(f"pipeline, local executor, --cores {cores}")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def bench_radiomics(workdir: Path, out: Path, max_cases: int = 8) -> list[dict]:
    """Per-case `vfrepro radiomics` with 1 and 2 concurrent workers on preprocessed cases."""
    import pandas as pd

    table = pd.read_csv(workdir / "resources/cohort/manifest.validated.csv", dtype=str)
    cases = sorted(c for c in table["case_id"].unique()
                   if (workdir / f"results/preprocess/{c}/image.nii.gz").exists())[:max_cases]
    if not cases:
        raise RuntimeError(f"no preprocessed cases under {workdir}")

    def one(case, tmp):
        rows = table[table["case_id"] == case]
        labels = ",".join(f"{int(float(r.mask_label))}:{r.level}" for r in rows.itertuples())
        cmd = [str(Path(sys.executable).parent / "vfrepro"), "radiomics", "--case-id", case,
               "--image", f"results/preprocess/{case}/image.nii.gz",
               "--mask", f"results/preprocess/{case}/mask_reader1.nii.gz", "--labels", labels,
               "--out", str(Path(tmp) / f"{case}.csv")]
        subprocess.run(cmd, cwd=workdir, check=True, capture_output=True,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))

    results = []
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(lambda c: one(c, tmp), cases))
            wall = time.perf_counter() - t
        results.append({"task": "radiomics", "cases": len(cases), "workers": workers,
                        "wall_s": round(wall, 1), "s_per_case": round(wall / len(cases), 2), "host": host()})
        print(results[-1], flush=True)
    results[1]["speedup"] = round(results[0]["wall_s"] / results[1]["wall_s"], 2)
    write_csv(results, out / "radiomics_cores.csv")
    return results


TRIVIAL = """
rule all:
    input: expand("t/{i}.txt", i=range(config["n"]))

rule touch:
    output: "t/{i}.txt"
    shell: "touch {output}"
"""


def bench_overhead(dag_workdir: Path | None, out: Path, ns=(50, 100, 200), repeat: int = 3) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        snakefile = Path(tmp) / "Snakefile"
        snakefile.write_text(TRIVIAL)
        for n in ns:
            workdir = Path(tmp) / f"w{n}"
            workdir.mkdir()
            (workdir / "n.yaml").write_text(f"n: {n}\n")
            walls = []
            for _ in range(repeat):  # median of `repeat` runs from nothing: a shared machine is noisy
                subprocess.run(["rm", "-rf", str(workdir / "t"), str(workdir / ".snakemake")])
                walls.append(snakemake(workdir, "--cores", "2", "--configfile", str(workdir / "n.yaml"),
                                       snakefile=snakefile)[0])
            rows.append({"task": "trivial_jobs", "jobs": n, "wall_s": round(float(np.median(walls)), 2),
                         "host": host()})
            print(rows[-1], flush=True)
    x = np.array([r["jobs"] for r in rows], float)
    y = np.array([r["wall_s"] for r in rows], float)
    slope, icpt = np.polyfit(x, y, 1)
    for r in rows:
        r.update(s_per_job=round(slope, 4), startup_s=round(icpt, 2))
    if dag_workdir is not None:
        # Dry run of the real DAG from nothing (up to the ingest checkpoint): parsing, config
        # validation and DAG building, the fixed cost of every snakemake call.
        dag_workdir.mkdir(parents=True, exist_ok=True)
        cfg = dag_workdir / "bench.yaml"
        if not cfg.exists():
            cfg.write_text("cohort:\n  synthetic:\n    n_patients: 8\n    seed: 7\n")
        wall, _ = snakemake(dag_workdir, "--configfile", str(cfg), "-n")
        rows.append({"task": "dry_run_real_dag", "jobs": "", "wall_s": round(wall, 2), "host": host()})
        print(rows[-1], flush=True)
    write_csv(rows, out / "snakemake_overhead.csv")
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32], help="cohort sizes (patients)")
    ap.add_argument("--cores", type=int, default=2, help="snakemake --cores")
    ap.add_argument("--only", nargs="+", choices=["pipeline", "radiomics", "overhead"],
                    default=["pipeline", "radiomics", "overhead"])
    ap.add_argument("--repeat", type=int, default=3, help="overhead: runs per size (median)")
    ap.add_argument("--no-studies", action="store_true", help="disable every study branch")
    ap.add_argument("--from-run", default=None, help="radiomics: use this finished run's "
                    "preprocessed cases instead of running the smallest size")
    ap.add_argument("--radiomics-cases", type=int, default=8, help="radiomics: cases timed")
    ap.add_argument("--keep", default=None, help="work folder to keep (default: a temporary one)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out"), help="folder for CSVs/plot")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        smallest = root / f"n{min(args.sizes)}"
        if "pipeline" in args.only:
            bench_pipeline(sorted(args.sizes), args.cores, args.no_studies, root, out)
        elif "radiomics" in args.only and not args.from_run and not (smallest / "results").exists():
            # Radiomics needs preprocessed cases: one real run of the smallest size.
            bench_pipeline([min(args.sizes)], args.cores, args.no_studies, root, out / "_smallest")
        if "radiomics" in args.only:
            bench_radiomics(Path(args.from_run) if args.from_run else smallest, out, args.radiomics_cases)
        if "overhead" in args.only:
            bench_overhead(smallest, out, repeat=args.repeat)


if __name__ == "__main__":
    main()
