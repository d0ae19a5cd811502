"""`vfrepro validate-manifest`: check a cohort manifest before any compute is spent."""

from __future__ import annotations

import json
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
    p.add_argument("--required", default="",
                   help="comma-separated studies that must run: a lacking column is an error (the other "
                   "--studies whose columns the manifest lacks are skipped, named in one line)")
    p.add_argument("--study-config", default="{}", metavar="JSON",
                   help="JSON object {study: config section}: the rows a study analyses (liu2025_dlr "
                   "vertebrae) and its ComBat covariates (liu2025_dlr combat.covariates)")
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
        try:
            study_config = json.loads(args.study_config)
        except json.JSONDecodeError as exc:
            raise InputError(f"--study-config is not JSON ({exc.msg})", field="--study-config") from None
        if not isinstance(study_config, dict):
            raise InputError("--study-config must be a JSON object {study: section}", field="--study-config")
        required = [s for s in args.required.split(",") if s]
        studies += [s for s in required if s not in studies]
        table = load_manifest(args.manifest, studies=studies, salt=args.salt, required=required,
                              study_config=study_config)
    except InputError as exc:
        print(f"manifest rejected: {exc}", file=sys.stderr)
        return 2
    for note in table.attrs.get("notes", []):
        print(f"note: {note}", file=sys.stderr)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(f"manifest ok: {table['case_id'].nunique()} case(s), {len(table)} vertebra row(s); "
          f"studies checked: {', '.join(table.attrs.get('studies', [])) or 'none'}")
    return 0
