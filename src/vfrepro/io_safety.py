"""Refuse a command whose output path is one of its inputs (it would overwrite the input).

`vfrepro` checks every command's arguments before it runs: an argument whose name starts
with `out` (--out, --out-mask, --out-csv, ...) or `save` (--save-model) is an output; every
other argument that names an existing file is an input. `validate-manifest --out` equal to
its `--manifest` would otherwise replace the only copy of the patient ids with pseudonyms.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from vfrepro.errors import InputError

# Arguments whose names look like outputs but are not: provenance --outputs (hashed), stats
# --outcome (a column).
READ_ONLY = {"outputs", "outcome"}


def _paths(value) -> list[str]:
    if isinstance(value, (str, os.PathLike)):
        return [os.fspath(value)]
    if isinstance(value, (list, tuple)):
        return [os.fspath(v) for v in value if isinstance(v, (str, os.PathLike))]
    return []


def same_file(a: str, b: str) -> bool:
    """Whether two paths name one file (links and relative spellings included)."""
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def refuse_overwrite(outputs: dict[str, object], inputs: dict[str, object]) -> None:
    """Raise InputError when a path in `outputs` ({flag: path(s)}) is also one in `inputs`."""
    for out_flag, out_value in outputs.items():
        for out in _paths(out_value):
            for in_flag, in_value in inputs.items():
                for inp in _paths(in_value):
                    if os.path.isfile(inp) and same_file(out, inp):
                        raise InputError(f"{out_flag} is the same file as {in_flag} ({Path(inp).name}): "
                                         f"refusing to overwrite an input; write somewhere else",
                                         field=out_flag)


def is_output(dest: str) -> bool:
    return dest not in READ_ONLY and (dest.startswith("out") or dest.startswith("save"))


def check_args(args: argparse.Namespace) -> None:
    """refuse_overwrite on a parsed command line, outputs and inputs told apart by name."""
    items = {k: v for k, v in vars(args).items() if k not in ("func", "command")}
    outputs = {_flag(k): v for k, v in items.items() if is_output(k)}
    inputs = {_flag(k): v for k, v in items.items() if not is_output(k)}
    refuse_overwrite(outputs, inputs)
