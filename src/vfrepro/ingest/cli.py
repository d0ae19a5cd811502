"""`vfrepro ingest`: DICOM series -> NIfTI plus a per-case QC table."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from vfrepro.cohort.manifest import cases, load_manifest
from vfrepro.deid import default_salt
from vfrepro.errors import InputError
from vfrepro.io_safety import read_csv, require_columns
from vfrepro.ingest.run import IngestOptions, failure_report, ingest_cases


def add_parser(sub) -> None:
    p = sub.add_parser(
        "ingest", help="find, check and convert each case's DICOM series to NIfTI",
        description="Read each case's DICOM folder, keep one series (by SeriesInstanceUID), sort "
        "slices along the slice normal, check them (missing slice, uneven spacing, gantry tilt, "
        "mixed orientations, duplicate positions, transfer syntax) and write OUT/images/<case>.nii.gz "
        "and OUT/qc.csv (one row per case). Exit status 1 if a case failed and --exclude-failed "
        "was not given; the QC table is written either way.")
    p.add_argument("--manifest", required=True, help="cohort manifest CSV (raw, with patient_id, "
                   "or as written by `vfrepro validate-manifest`, with case_id)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--exclude-failed", action="store_true",
                   help="exit 0 even if cases failed; they stay listed as failed in qc.csv")
    p.add_argument("--salt", default=default_salt(),
                   help="secret salt of the case pseudonyms (default: $VFREPRO_SALT, else the demo salt)")
    p.add_argument("--threads", type=int, default=1, help="cases converted in parallel")
    p.add_argument("--no-tilt-correction", action="store_true",
                   help="refuse gantry-tilted series instead of shifting slices in-plane")
    p.add_argument("--max-tilt-deg", type=float, default=30.0, help="refuse tilts above this")
    p.add_argument("--spacing-tolerance", type=float, default=0.05,
                   help="relative deviation of a slice step from the median step that counts as uneven")
    p.add_argument("--min-slices", type=int, default=3, help="refuse series with fewer slices")
    p.add_argument("--modality", default="CT", help="required Modality ('any' to accept all)")
    p.set_defaults(func=run)
    add_gate_parser(sub)


def read_cases(manifest: str, salt: str) -> pd.DataFrame:
    """Cases (case_id, dicom_dir, ...) from a raw or an already validated manifest."""
    head = read_csv(manifest, what="manifest", nrows=0).columns
    if "patient_id" in head:
        return cases(load_manifest(manifest, salt=salt))
    table = read_csv(manifest, what="manifest")
    return cases(table)


def run(args) -> int:
    try:
        table = read_cases(args.manifest, args.salt)
    except InputError as exc:
        print(f"error: vfrepro ingest: {exc}", file=sys.stderr)
        return 2
    options = IngestOptions(correct_tilt=not args.no_tilt_correction, max_tilt_deg=args.max_tilt_deg,
                            spacing_rel_tol=args.spacing_tolerance, min_slices=args.min_slices,
                            require_modality=None if args.modality == "any" else args.modality)
    qc = ingest_cases(table, Path(args.out), options, args.threads)
    n_ok = int((qc["status"] == "ok").sum())
    print(f"ingest: {n_ok} of {len(qc)} case(s) ok; QC table {Path(args.out) / 'qc.csv'}")
    report = failure_report(qc)
    if report:
        print(report, file=sys.stderr)
        if not args.exclude_failed:
            print("stopping: set ingest.exclude_failed (or --exclude-failed) to go on without them",
                  file=sys.stderr)
            return 1
    return 0


def add_gate_parser(sub) -> None:
    p = sub.add_parser(
        "ingest-gate", help="apply the failed-case policy to an ingest QC table",
        description="Write the list of cases that passed ingest QC. If any case failed and "
        "--exclude-failed is not given, print the failures with their reasons and exit 1, so that "
        "no later stage spends compute on a cohort with unexplained gaps.")
    p.add_argument("--qc", required=True, help="qc.csv written by `vfrepro ingest`")
    p.add_argument("--out", required=True, help="text file: one passing case id per line")
    p.add_argument("--exclude-failed", action="store_true", help="go on without the failed cases")
    p.set_defaults(func=run_gate)


def run_gate(args) -> int:
    try:
        qc = read_csv(args.qc, what="ingest QC table", dtype={"case_id": str})
        require_columns(qc, ("case_id", "status"), args.qc, what="ingest QC table (written by `vfrepro ingest`)")
    except InputError as exc:
        print(f"error: vfrepro ingest-gate: {exc}", file=sys.stderr)
        return 2
    report = failure_report(qc)
    if report:
        print(report, file=sys.stderr)
        if not args.exclude_failed:
            print("stopping before preprocessing: fix these cases, remove them from the manifest, "
                  "or set ingest.exclude_failed: true", file=sys.stderr)
            return 1
        print("excluded (ingest.exclude_failed is set)", file=sys.stderr)
    ok = qc.loc[qc["status"] == "ok", "case_id"].tolist()
    if not ok:
        print("no case passed ingest QC", file=sys.stderr)
        return 1
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("".join(f"{c}\n" for c in ok))
    print(f"ingest gate: {len(ok)} case(s) go on")
    return 0
