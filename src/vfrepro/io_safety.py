"""Refuse a command whose output path is one of its inputs (it would overwrite the input).

`vfrepro` checks every command's arguments before it runs: an argument whose name starts
with `out` (--out, --out-mask, --out-csv, ...) or `save` (--save-model), or whose help begins
with "output" (the CLIs' convention for outputs named after what they hold: --metrics,
--delong, --models, ...), is an output; every other argument that names an existing file is an
input. `validate-manifest --out` equal to
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


def declared_outputs(parser: argparse.ArgumentParser) -> dict:
    """{command function: dests of its arguments whose help begins with "output"}, for every
    sub-command below ``parser`` (a leaf is known by the ``func`` default it sets)."""
    out: dict = {}
    stack = [parser]
    while stack:
        p = stack.pop()
        func = p.get_default("func")
        if func is not None:
            out[func] = {a.dest for a in p._actions if (a.help or "").lower().startswith("output")
                         and a.dest not in READ_ONLY}
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                stack.extend(a.choices.values())
    return out


def output_dests(args: argparse.Namespace, declared: dict | None = None) -> set[str]:
    """The dests of ``args`` that are outputs: named out* / save*, or declared by their help."""
    extra = (declared or {}).get(getattr(args, "func", None), set())
    return {k for k in vars(args) if k not in ("func", "command") and (is_output(k) or k in extra)}


def check_args(args: argparse.Namespace, declared: dict | None = None) -> None:
    """refuse_overwrite on a parsed command line, outputs and inputs told apart by name (and by
    ``declared``, from :func:`declared_outputs`)."""
    items = {k: v for k, v in vars(args).items() if k not in ("func", "command")}
    outs = output_dests(args, declared)
    outputs = {_flag(k): v for k, v in items.items() if k in outs}
    inputs = {_flag(k): v for k, v in items.items() if k not in outs}
    refuse_overwrite(outputs, inputs)


# ------------------------------------------------------------------ outputs we cannot write
# Suffixes of outputs that are files: an existing folder given for one is refused up front
# (outputs without a suffix, e.g. `ingest --out`, may be folders).
_FILE_SUFFIXES = {".csv", ".json", ".txt", ".md", ".tex", ".yaml", ".yml", ".nii", ".gz", ".pt",
                  ".png", ".pdf", ".svg", ".npz", ".npy", ".html", ".tsv", ".pkl", ".joblib"}


def check_writable(flag: str, path: str) -> None:
    """InputError when `path` (an output) cannot be written: a folder where a file is meant,
    a parent that is a file, or a parent folder we may not write into."""
    p = Path(path)
    if p.is_dir() and p.suffix.lower() in _FILE_SUFFIXES:
        raise InputError(f"{flag} {path} is a folder; give a file path", field=flag)
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise InputError(f"{flag} {path} cannot be written: {parent} is a file, not a folder", field=flag)
    target = p if p.exists() else parent
    if not os.access(target, os.W_OK):
        raise InputError(f"{flag} {path} cannot be written: no write permission on {target}", field=flag)


def check_outputs(outputs: dict[str, object]) -> None:
    for flag, value in outputs.items():
        for out in _paths(value):
            check_writable(flag, out)


def describe_os_error(exc: OSError) -> str:
    """One line for a file-system error raised while a command runs (names the file)."""
    what = exc.strerror or type(exc).__name__
    name = exc.filename if exc.filename is not None else ""
    if isinstance(exc, IsADirectoryError):
        what = "is a folder, a file was expected"
    return f"{name}: {what}" if name else what


# ------------------------------------------------------------------ one reader for input CSVs
def read_csv(path, *, what: str = "CSV", **kw):
    """pandas.read_csv with the mistakes a user makes turned into one-line InputErrors that
    name the file: absent, a folder, zero bytes, no columns, unparsable, not UTF-8, or written
    with another separator (one column whose name holds ';' or a tab)."""
    import pandas as pd

    path = os.fspath(path)
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{what} is a folder, not a file", path=path)
    if not p.is_file():
        raise InputError(f"{what} not found", path=path)
    if p.stat().st_size == 0:
        raise InputError(f"{what} is empty (0 bytes)", path=path)
    with open(path, "rb") as fh:
        head = fh.readline(65536).decode("utf-8", "replace")
    if "," not in head:
        for sep, name in ((";", "semicolons"), ("\t", "tabs")):
            if sep in head:
                raise InputError(f"{what} has one column {head.strip()[:60]!r}: it looks separated by "
                                 f"{name}; write it comma-separated", path=path)
    try:
        df = pd.read_csv(path, **kw)
    except pd.errors.EmptyDataError:
        raise InputError(f"{what} has no header row (only blank lines)", path=path) from None
    except pd.errors.ParserError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "parse error"
        raise InputError(f"{what} is not a valid comma-separated file ({first})", path=path) from None
    except UnicodeDecodeError:
        raise InputError(f"{what} is not UTF-8 text", path=path) from None
    except ValueError as exc:  # e.g. index_col / usecols naming a column the file lacks
        raise InputError(f"{what} cannot be read as asked: {exc}", path=path) from None
    return df


def require_columns(df, columns, path, what: str = "CSV") -> None:
    """InputError naming the first columns `df` lacks (and the ones it has)."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        have = ", ".join(map(str, list(df.columns)[:12]))
        raise InputError(f"{what} lacks column(s) {', '.join(missing)} (it has: {have})",
                         path=os.fspath(path), field=missing[0])


# ------------------------------------------------------------------ LABEL:LEVEL lists
def parse_label_levels(text: str, option: str = "--labels", default_level: str = "label{label}") -> dict[int, str]:
    """'20:L1,21:L2' -> {20: 'L1', 21: 'L2'}; a bad entry, a repeated label or an empty list is
    an InputError naming `option`. A label without level gets `default_level`, formatted
    with the label."""
    out: dict[int, str] = {}
    for item in filter(None, (s.strip() for s in (text or "").split(","))):
        lab, sep, level = item.partition(":")
        try:
            label = int(lab.strip())
        except ValueError:
            raise InputError(f"bad entry {item!r} in {option}: expected LABEL:LEVEL with an integer "
                             f"label, e.g. 20:L1,21:L2", field=option) from None
        if label < 0:
            raise InputError(f"bad entry {item!r} in {option}: a label is >= 0", field=option)
        if sep and not level.strip():
            raise InputError(f"bad entry {item!r} in {option}: empty level after ':'", field=option)
        if label in out:
            raise InputError(f"label {label} appears twice in {option}", field=option)
        out[label] = level.strip() or default_level.format(label=label)
    if not out:
        raise InputError(f"no labels given in {option} (expected LABEL:LEVEL pairs, e.g. 20:L1,21:L2)",
                         field=option)
    return out
