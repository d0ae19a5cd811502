"""Published numbers (package data ``vfrepro/data/published/<study>.yaml``, named by the
registry's ``published`` field) and the one published-vs-reproduced renderer.

A file holds a top-level ``citation`` (optionally ``source`` and ``note``) and ``records``,
one per published number: ``study, source, row, column, quantity, value, ci_low, ci_high,
note`` (``ci_low``/``ci_high`` blank when not published). Numbers live there only, never in
code. :func:`beside` joins reproduced numbers to them; :func:`markdown` and :func:`latex`
render a finished table.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd
import yaml

from .. import registry

__all__ = ["FIELDS", "Published", "load", "beside", "markdown", "latex"]

FIELDS = ("study", "source", "row", "column", "quantity", "value", "ci_low", "ci_high", "note")
KEY = ("row", "column", "quantity")


@dataclass(frozen=True)
class Published:
    study: str
    citation: str
    source: str
    note: str
    records: pd.DataFrame

    def get(self, row, column, quantity) -> dict | None:
        """The record of one published number, or None when it was not published."""
        r = self.records
        hit = r[(r["row"] == str(row)) & (r["column"] == str(column)) & (r["quantity"] == quantity)]
        return None if hit.empty else hit.iloc[0].to_dict()

    def value(self, row, column, quantity, default=np.nan):
        rec = self.get(row, column, quantity)
        return default if rec is None else rec["value"]


def _parse(study: str, text: str, name: str) -> Published:
    doc = yaml.safe_load(text) or {}
    if "citation" not in doc or not isinstance(doc.get("records"), list):
        raise ValueError(f"{name}: needs a top-level citation and a list of records")
    for i, rec in enumerate(doc["records"]):
        lacking = [f for f in FIELDS if f not in rec]
        if lacking:
            raise ValueError(f"{name}: record {i} lacks {lacking}")
        if rec["study"] != study:
            raise ValueError(f"{name}: record {i} belongs to study {rec['study']!r}, not {study!r}")
    # value keeps each number's own type (a count stays an int) and may be a name (best model).
    recs = pd.DataFrame(doc["records"], columns=list(FIELDS), dtype=object)
    recs[["ci_low", "ci_high"]] = recs[["ci_low", "ci_high"]].astype(float)
    for c in ("row", "column", "quantity", "source"):
        recs[c] = recs[c].astype(str)
    recs["note"] = recs["note"].fillna("").astype(str)
    dup = recs.duplicated(list(KEY), keep=False)
    if dup.any():
        raise ValueError(f"{name}: numbers published twice: {recs.loc[dup, list(KEY)].values.tolist()[:3]}")
    return Published(study, str(doc["citation"]), str(doc.get("source", doc["citation"])),
                     str(doc.get("note", "")), recs)


@functools.cache
def load(study: str) -> Published:
    """The published numbers of ``study`` (the file its registry entry names)."""
    name = registry.get(study).published
    if not name:
        raise KeyError(f"study {study} has no published-numbers file in the registry")
    text = resources.files("vfrepro.data").joinpath("published", name).read_text()
    return _parse(study, text, name)


def beside(reproduced: pd.DataFrame, published: Published) -> pd.DataFrame:
    """Reproduced numbers (a long table with ``row, column, quantity`` and whatever values)
    with the published number of each key beside them: ``published``, ``published_ci_low``,
    ``published_ci_high``, ``published_note`` (NaN / "" where the paper has none)."""
    pub = published.records[[*KEY, "value", "ci_low", "ci_high", "note"]].rename(columns={
        "value": "published", "ci_low": "published_ci_low", "ci_high": "published_ci_high",
        "note": "published_note"})
    rep = reproduced.copy()
    for c in KEY:
        rep[c] = rep[c].astype(str)
    out = rep.merge(pub, on=list(KEY), how="left", validate="many_to_one")
    out["published_note"] = out["published_note"].fillna("")
    return out


def _text(v) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)


def markdown(df: pd.DataFrame, columns=None, headers=None) -> str:
    """A Markdown table of ``columns`` (default all) headed by ``headers``; NaN shows empty."""
    cols = list(columns or df.columns)
    head = list(headers or cols)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_text(v) for v in row) + " |" for row in df[cols].itertuples(index=False)]
    return "\n".join(lines)


def latex(df: pd.DataFrame, columns, headers, caption: str, colspec: str) -> list[str]:
    """A LaTeX table (lines) of ``columns``; ``caption`` is written as given (already escaped)."""
    def esc(x):
        return _text(x).replace("_", r"\_").replace("%", r"\%").replace("&", r"\&")
    out = [r"\begin{table}[ht]", r"\centering\scriptsize", rf"\caption{{{caption}}}",
           rf"\begin{{tabular}}{{{colspec}}}", r"\hline", " & ".join(esc(h) for h in headers) + r" \\", r"\hline"]
    out += [" & ".join(esc(v) for v in row) + r" \\" for row in df[list(columns)].itertuples(index=False)]
    return out + [r"\hline", r"\end{tabular}", r"\end{table}"]
