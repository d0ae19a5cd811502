"""The `vfrepro` command: one subcommand per stage; rules call these, never internals."""

from __future__ import annotations

import argparse
import importlib
import sys

# Each module exposes add_parser(subparsers); its parser sets `func`. Adding a stage is one line.
COMMAND_MODULES = [
    "vfrepro.cohort.cli",
    "vfrepro.cohort.manifest_cli",
    "vfrepro.ingest.cli",
    "vfrepro.preprocess.cli",
    "vfrepro.qc.cli",
    "vfrepro.stats.cli",
    "vfrepro.harmonize.cli",
    "vfrepro.radiomics.cli",
    "vfrepro.studies.liu2025_cli",
    "vfrepro.provenance_cli",
    "vfrepro.deep.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vfrepro",
        description="Reproduce vertebral-fracture AI studies end to end. Each subcommand is one "
        "pipeline stage; `vfrepro SUBCOMMAND --help` documents its options.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
