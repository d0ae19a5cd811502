"""`vfrepro synth`: write the synthetic multi-site cohort and its manifest."""

from __future__ import annotations

import argparse
import time


def add_parser(subparsers) -> None:
    """Register the `synth` subcommand on the main CLI's subparsers."""
    p = subparsers.add_parser(
        "synth",
        help="generate the synthetic multi-site spine cohort (DICOM CT, masks, radiographs, manifest)",
        description="Write a seeded synthetic cohort: one DICOM CT series per patient, reader-1/2 "
        "vertebra masks and lesion maps (NIfTI), lateral/AP radiographs (PNG) and manifest.csv "
        "with every study's labels. The same seed gives byte-identical files.",
    )
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder; manifest.csv is written there and its paths are relative to it")
    p.add_argument("--n-patients", type=int, required=True, metavar="N", help="number of patients (>= 1)")
    p.add_argument("--seed", type=int, required=True, metavar="S",
                   help="random seed; a patient's data depend only on the seed and its index")
    p.add_argument("--sites", type=int, default=4, metavar="K",
                   help="number of scanners/sites (>= 2; half are development sites, the rest external; "
                   "default 4)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate the cohort and print a one-line summary."""
    from .synth import generate_cohort   # heavy imports only when the command runs

    t0 = time.perf_counter()
    df = generate_cohort(args.out, args.n_patients, args.seed, n_sites=args.sites)
    n_pat = df["patient_id"].nunique()
    splits = df.drop_duplicates("patient_id")["split"].value_counts().to_dict()
    print(f"synth: {n_pat} patients, {len(df)} vertebrae ({int(df['fracture'].sum())} fractured), "
          f"{df['site'].nunique()} sites, splits {splits} -> {args.out}/manifest.csv "
          f"in {time.perf_counter() - t0:.1f} s")
    return 0
