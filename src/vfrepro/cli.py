"""The `vfrepro` command: one subcommand per stage; rules call these, never internals."""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from . import registry
from .errors import InputError
from .io_safety import check_args, check_outputs, declared_outputs, describe_os_error, output_dests

# Subcommand -> the module whose add_parser(subparsers) defines it (and sets `func`). A run
# imports only the module of its own subcommand: importing every stage (scipy.stats, torch,
# SimpleITK, ...) costs seconds, and a workflow runs hundreds of short jobs. tests/test_cli.py
# checks that this table and the modules agree. Each built study's verb is its name, defined
# by `<package>.cli` (from the registry); a shared stage is one line here.
SUBCOMMANDS = {
    "synth": "vfrepro.cohort.cli",
    "validate-manifest": "vfrepro.cohort.manifest_cli",
    "ingest": "vfrepro.ingest.cli",
    "ingest-gate": "vfrepro.ingest.cli",
    "preprocess": "vfrepro.preprocess.cli",
    "montage": "vfrepro.qc.cli",
    "stats": "vfrepro.stats.cli",
    "harmonize": "vfrepro.harmonize.cli",
    "radiomics": "vfrepro.radiomics.cli",
    "provenance": "vfrepro.provenance_cli",
    "tables": "vfrepro.evaluate.reproduction_cli",
    "reproduction": "vfrepro.evaluate.reproduction_cli",
    "reproduction-report": "vfrepro.evaluate.reproduction_cli",
    **{name: f"{registry.get(name).package}.cli" for name in registry.built()},
}
COMMAND_MODULES = list(dict.fromkeys(SUBCOMMANDS.values()))


def build_parser(modules: list[str] | None = None) -> argparse.ArgumentParser:
    """The full parser (every stage), or one with only the subcommands of `modules`."""
    parser = argparse.ArgumentParser(
        prog="vfrepro",
        description="Reproduce vertebral-fracture AI studies end to end. Each subcommand is one "
        "pipeline stage; `vfrepro SUBCOMMAND --help` documents its options.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    for name in modules or COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


_show_warning = warnings.showwarning


def _show_vfrepro_warning(message, category, filename, lineno, file=None, line=None):
    """vfrepro's own warnings (e.g. select.FoldsReduced) as one 'warning: ...' line in the log."""
    if category.__module__.startswith("vfrepro"):
        print(f"warning: {message}", file=file or sys.stderr)
    else:
        _show_warning(message, category, filename, lineno, file, line)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    warnings.showwarning = _show_vfrepro_warning
    module = SUBCOMMANDS.get(argv[0]) if argv else None
    parser = build_parser([module] if module else None)
    args = parser.parse_args(argv)
    declared = declared_outputs(parser)
    try:
        check_args(args, declared)  # an output that is also an input would overwrite it
        # an output we cannot write (a folder for a file, a file for a folder, no permission):
        # refused before compute is spent
        check_outputs({"--" + k.replace("_", "-"): getattr(args, k) for k in output_dests(args, declared)})
    except InputError as exc:
        print(f"vfrepro {args.command}: {exc}", file=sys.stderr)
        return 2
    # What a command meets while it runs and that is the user's to fix is one line naming the
    # file, not a traceback; anything else is a bug and keeps its traceback.
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"error: vfrepro {args.command}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: vfrepro {args.command}: cannot read or write {describe_os_error(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
