"""Time the synthetic cohort generator per patient and stage; write bench/out/bench_synth.csv.

Usage: python bench/bench_synth.py [--n-patients N] [--seed S] [--sites K] [--out DIR]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import pandas as pd

from vfrepro.cohort import sites as S
from vfrepro.cohort import synth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n-patients", type=int, default=12, help="patients to generate")
    ap.add_argument("--seed", type=int, default=0, help="cohort seed")
    ap.add_argument("--sites", type=int, default=4, help="number of sites")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out"), help="folder for the CSV")
    args = ap.parse_args()
    profiles = S.make_sites(args.seed, args.sites)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for i in range(args.n_patients):
            e = S.enrol(args.seed, i, args.sites)
            r = synth.generate_patient(Path(tmp), args.seed, i, e, profiles, with_reader2=True)
            site = profiles[e.site_index]
            rows.append({"patient": synth.patient_id(i), "site": r.site, "pixel_mm": site.pixel_mm,
                         "slice_mm": site.slice_mm, "n_voxels": r.n_voxels,
                         **{f"s_{k}": round(v, 4) for k, v in r.seconds.items()}})
        wall = time.perf_counter() - t0
    df = pd.DataFrame(rows)
    df["machine"] = platform.processor() or platform.machine()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "bench_synth.csv", index=False)
    print(df.drop(columns="machine").to_string(index=False))
    print(f"mean {df.s_total.mean():.3f} s/patient (median {df.s_total.median():.3f}, max "
          f"{df.s_total.max():.3f}); wall {wall:.1f} s for {len(df)} patients "
          f"-> {out / 'bench_synth.csv'}")


if __name__ == "__main__":
    main()
