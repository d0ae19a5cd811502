"""`vfrepro validate-manifest`: check a cohort manifest before any compute is spent."""

from __future__ import annotations

import sys
from pathlib import Path

from vfrepro import registry
from vfrepro.cohort.manifest import load_manifest
from vfrepro.deid import DEFAULT_SALT, DEMO_SALT_WARNING, default_salt
from vfrepro.errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "validate-manifest", help="check a cohort manifest and write it keyed by pseudonymous case id",
        description="Validate every row against the manifest schema, check that the files exist and "
        "that every enabled study finds the columns it needs; write the table with a salted "
        "pseudonym (case_id) in place of patient_id and absolute paths.")
    p.add_argument("--manifest", required=True, help="cohort manifest CSV")
    p.add_argument("--out", required=True, help="validated manifest CSV to write")
    p.add_argument("--studies", default="", help=f"comma-separated studies to check columns for "
                   f"(known: {', '.join(registry.names())})")
    p.add_argument("--salt", default=default_salt(),
                   help="secret salt of the case pseudonyms (default: $VFREPRO_SALT, else the demo salt)")
    p.add_argument("--real-cohort", action="store_true",
                   help="the manifest is a real cohort (cohort.source: manifest): warn if the demo salt is in force")
    p.set_defaults(func=run)


def run(args) -> int:
    studies = [s for s in args.studies.split(",") if s]
    if args.salt == DEFAULT_SALT and args.real_cohort:
        print(DEMO_SALT_WARNING, file=sys.stderr)
    try:
        table = load_manifest(args.manifest, studies=studies, salt=args.salt)
    except InputError as exc:
        print(f"manifest rejected: {exc}", file=sys.stderr)
        return 2
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(f"manifest ok: {table['case_id'].nunique()} case(s), {len(table)} vertebra row(s)")
    return 0
