"""Table comparison of two run folders, shared by the resume and determinism tests."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

TABLE_SUFFIXES = {".csv", ".md", ".tex", ".json"}
# Fields that record when, where or how fast a job ran, not what it computed: left out of the
# comparison (a table holding one is compared field by field without them; all others byte by byte).
TIMING = re.compile(r"^(seconds|wall_s|elapsed.*|.*_seconds|time_s|duration.*|date|timestamp|host|hostname)$")


def tables(root: Path, under: str = "results") -> dict[str, Path]:
    base = root / under
    return {str(p.relative_to(root)): p for p in sorted(base.rglob("*"))
            if p.suffix in TABLE_SUFFIXES and p.is_file() and "provenance" not in p.relative_to(root).parts}


def _drop_timing(obj):
    if isinstance(obj, dict):
        return {k: _drop_timing(v) for k, v in obj.items() if not TIMING.match(str(k))}
    if isinstance(obj, list):
        return [_drop_timing(v) for v in obj]
    return obj


def differences(a: Path, b: Path, under: str = "results") -> list[str]:
    """Table files that differ between run folders a and b (or exist in one only)."""
    ta, tb = tables(a, under), tables(b, under)
    out = [f"only in one run: {k}" for k in sorted(set(ta) ^ set(tb))]
    for k in sorted(set(ta) & set(tb)):
        x, y = ta[k].read_bytes(), tb[k].read_bytes()
        if x == y:
            continue
        if ta[k].suffix == ".json":
            if _drop_timing(json.loads(x)) == _drop_timing(json.loads(y)):
                continue
        elif ta[k].suffix == ".csv":
            fa, fb = pd.read_csv(ta[k], dtype=str), pd.read_csv(tb[k], dtype=str)
            keep = [c for c in fa.columns if not TIMING.match(str(c))]
            if list(fa.columns) == list(fb.columns) and keep != list(fa.columns) and fa[keep].equals(fb[keep]):
                continue
        out.append(f"differs: {k}")
    return out
