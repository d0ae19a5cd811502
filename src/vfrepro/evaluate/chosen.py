"""Deviations from a paper and values it leaves out, as every study's outputs list them.

A study module declares ``CHOSEN: list[tuple[setting, value, reason]]`` (qu2025_mil and
wang2024_twostage started the pattern); :func:`table` gathers those lists (plus the config in
force, flattened) into one DataFrame, :func:`markdown` renders the block that goes under a
study's tables and into its provenance. Computes and returns; the CLIs write chosen.csv.
"""

from __future__ import annotations

from types import ModuleType
from typing import Iterable

import pandas as pd

__all__ = ["COLUMNS", "flatten", "table", "markdown"]

COLUMNS = ["module", "setting", "value", "reason"]
CONFIG_REASON = ("config in force for this stage (demo values chosen on a separate synthetic cohort; "
                 "paper values in workflow/presets/paper.yaml)")


def flatten(d: dict, prefix: str = "") -> Iterable[tuple[str, object]]:
    """Dotted keys of a nested config dict: ``{"a": {"b": 1}}`` -> ``("a.b", 1)``."""
    for k, v in d.items():
        if isinstance(v, dict):
            yield from flatten(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def table(modules: Iterable[ModuleType], cfg: dict | None = None,
          extra: Iterable[tuple[str, str, str, str]] = ()) -> pd.DataFrame:
    """One row per (module, setting, value, reason): each module's ``CHOSEN`` list, then
    ``extra`` rows, then (when given) every key of ``cfg`` with the value in force."""
    rows = []
    for mod in modules:
        name = mod.__name__.rsplit(".", 1)[-1]
        rows += [{"module": name, "setting": s, "value": str(v), "reason": r} for s, v, r in mod.CHOSEN]
    rows += [dict(zip(COLUMNS, (m, s, str(v), r))) for m, s, v, r in extra]
    if cfg:
        rows += [{"module": "config", "setting": k, "value": str(v), "reason": CONFIG_REASON}
                 for k, v in flatten(cfg)]
    return pd.DataFrame(rows, columns=COLUMNS)


def markdown(chosen: pd.DataFrame, title: str = "Deviations from the paper and values it leaves out",
             level: int = 2, include_config: bool = False) -> str:
    """The block under a study's tables: one bullet per chosen setting (config rows only when
    ``include_config``; chosen.csv always has them)."""
    t = chosen if include_config else chosen[chosen["module"] != "config"]
    lines = [f"{'#' * level} {title}", ""]
    lines += [f"- **{r.setting}** ({r.module}): {r.value}. {r.reason}" for r in t.itertuples()]
    return "\n".join(lines) + "\n"
