"""Benchmark the statistics core; writes bench/out/stats.csv.

Times (one process, median of --repeat runs):
* fast DeLong test (Sun & Xu midranks, O(n log n)) at n = 1e3, 1e4, 1e5, against the naive
  O(n_pos * n_neg) pairwise DeLong (the naive one at 1e5 needs 2.5e9 comparisons per score:
  it runs only with --naive-1e5, row-chunked to bound memory);
* the 1000-resample stratified bootstrap of a 3-class OvR table at n = 1e3 and 1e4.

Usage: python bench/bench_stats.py [--repeat 3] [--naive-1e5] [--out bench/out/stats.csv]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import time
from pathlib import Path

import numpy as np

from vfrepro.stats.multiclass import multiclass_table
from vfrepro.stats.roc import delong_test, naive_delong_test


def _timeit(fn, repeat):
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)), out


def _naive_chunked(y, a, b, chunk=2000):
    """Pairwise DeLong with the positive rows processed in blocks (memory O(chunk * n_neg))."""
    res = []
    for s in (a, b):
        X, Y = s[y == 1], s[y == 0]
        v10 = np.empty(len(X))
        v01 = np.zeros(len(Y))
        for i in range(0, len(X), chunk):
            psi = (X[i:i + chunk, None] > Y[None, :]) + 0.5 * (X[i:i + chunk, None] == Y[None, :])
            v10[i:i + chunk] = psi.mean(axis=1)
            v01 += psi.sum(axis=0)
        res.append((v10.mean(), v10, v01 / len(X)))
    (ta, xa, ya), (tb, xb, yb) = res
    S = np.cov(np.vstack([xa, xb])) / len(xa) + np.cov(np.vstack([ya, yb])) / len(ya)
    return {"z": (ta - tb) / np.sqrt(S[0, 0] + S[1, 1] - 2 * S[0, 1])}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per timing; the median is reported")
    ap.add_argument("--naive-1e5", action="store_true", help="also time the naive DeLong at n = 1e5 (slow)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "stats.csv"))
    a = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = []
    host = f"{platform.processor() or platform.machine()} ({os.cpu_count()} cpus)"

    for n in (1_000, 10_000, 100_000):
        y = rng.integers(0, 2, n)
        s1 = rng.normal(size=n) + y
        s2 = 0.5 * s1 + rng.normal(size=n)
        t_fast, fast = _timeit(lambda: delong_test(y, s1, s2), a.repeat)
        if n <= 10_000:
            t_naive, slow = _timeit(lambda: naive_delong_test(y, s1, s2), a.repeat if n < 10_000 else 1)
        elif a.naive_1e5:
            t_naive, slow = _timeit(lambda: _naive_chunked(y, s1, s2), 1)
        else:
            t_naive, slow = float("nan"), None
        agree = "" if slow is None else f"{abs(fast['z'] - slow['z']):.2e}"
        rows.append({"task": "delong_test", "n": n, "impl": "fast_sun_xu", "seconds": t_fast, "note": ""})
        rows.append({"task": "delong_test", "n": n, "impl": "naive_pairwise", "seconds": t_naive,
                     "note": f"|z_fast - z_naive| = {agree}" if slow is not None else "skipped (use --naive-1e5)"})

    for n in (1_000, 10_000):
        y = rng.integers(0, 3, n)
        logits = rng.normal(size=(n, 3)) + 1.5 * np.eye(3)[y]
        P = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        t, _ = _timeit(lambda: multiclass_table(y, P, n_boot=1000, seed=0), a.repeat if n < 10_000 else 1)
        rows.append({"task": "multiclass_bootstrap_1000", "n": n, "impl": "vectorised", "seconds": t,
                     "note": "3 classes, 7 OvR metrics + macro/micro AUC"})

    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["task", "n", "impl", "seconds", "note", "host"])
        w.writeheader()
        for r in rows:
            w.writerow({**r, "seconds": f"{r['seconds']:.4g}", "host": host})
    for r in rows:
        print(f"{r['task']:28s} n={r['n']:>7d} {r['impl']:16s} {r['seconds']:9.4f} s  {r['note']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
