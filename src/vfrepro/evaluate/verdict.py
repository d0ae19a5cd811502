"""A verdict per published number: does the published value lie inside the reproduced 95% CI?

Input: a study's reproduced numbers in long form (:data:`LONG_COLUMNS`; each study's
``tables.reproduced_long`` maps its own tables to it) keyed like the published records
(``row, column, quantity``). Output: one row per published number (:data:`COLUMNS`), written
as ``results/<study>/reproduction.csv``, and the forest plot. The rules (docs/reproduction.md):

1. The reproduced value has a 95% CI: ``consistent`` when ``ci_low <= published <= ci_high``,
   else ``inconsistent``.
2. No CI, but a proportion (accuracy, sensitivity, ...) with its denominator ``n``: the Wilson
   score 95% CI of the reproduced proportion, then rule 1.
3. ``not evaluable``, with the reason, for: a count (fixed by the cohort, not estimated), a
   p-value or test statistic, a design parameter or any other non-estimate, a name (e.g. the
   best model: same or different is said in the reason), a number the run did not produce or
   could not (a class absent from the split: the study's reason), an estimate without a CI
   and without a denominator (e.g. a mean of one-vs-rest metrics).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import published as pub

__all__ = ["LONG_COLUMNS", "COLUMNS", "VERDICTS", "PROPORTIONS", "ESTIMATES", "wilson", "verdicts",
           "counts", "forest_figure", "reproduce"]

LONG_COLUMNS = ("row", "column", "quantity", "value", "ci_low", "ci_high", "ci_method", "n", "scale", "reason")
COLUMNS = ("study", "source", "row", "column", "quantity", "published", "published_ci_low", "published_ci_high",
           "reproduced", "reproduced_ci_low", "reproduced_ci_high", "ci_method", "difference", "verdict", "reason")
VERDICTS = ("consistent", "inconsistent", "not evaluable")
# proportions (rule 2 applies); ``scale`` says whether the table writes them as fractions or %
PROPORTIONS = {"accuracy", "sensitivity", "specificity", "precision", "ppv", "npv", "recall", "exact_match",
               "fp_rate", "fn_rate", "fp_rate_pct", "fn_rate_pct"}
# estimates with a sampling distribution (rule 1 applies when the run gives a CI)
ESTIMATES = PROPORTIONS | {"auc", "macro_auc", "micro_auc", "f1", "ap", "map", "kappa", "icc", "c_index", "iou",
                           "dice", "brier"}
_COUNTS = {"tn", "fp", "fn", "tp", "n", "count", "correct", "images", "vertebrae"}
_TESTS = {"p", "p_value", "pvalue", "z", "t", "chi2", "statistic"}


def wilson(p: float, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval of a proportion ``p`` observed on ``n`` units."""
    if not n or not np.isfinite(p):
        return (np.nan, np.nan)
    d = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, round(centre - half, 12)), min(1.0, round(centre + half, 12)))


def _number(v):
    if v is None or isinstance(v, bool):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x


def _kind(quantity: str) -> str:
    q = quantity.lower()
    if q in ESTIMATES:
        return "estimate"
    if q in _COUNTS or q.startswith("n_"):
        return "count"
    if q in _TESTS or q.startswith("p_"):
        return "test"
    return "other"


def _long(reproduced: pd.DataFrame | None) -> pd.DataFrame:
    rep = pd.DataFrame(columns=list(LONG_COLUMNS)) if reproduced is None else reproduced.copy()
    for c in LONG_COLUMNS:
        if c not in rep.columns:
            rep[c] = {"scale": 1.0, "reason": "", "ci_method": ""}.get(c, np.nan)
    for c in ("row", "column", "quantity"):
        rep[c] = rep[c].astype(str)
    rep["reason"] = rep["reason"].fillna("").astype(str)
    rep["ci_method"] = rep["ci_method"].fillna("").astype(str)
    dup = rep.duplicated(["row", "column", "quantity"], keep=False)
    if dup.any():
        raise ValueError(f"reproduced numbers given twice: {rep.loc[dup, ['row', 'column', 'quantity']].values.tolist()[:3]}")
    return rep[list(LONG_COLUMNS)]


def _one(rec: dict, r: dict | None) -> dict:
    out = {"study": rec["study"], "source": rec["source"], "row": rec["row"], "column": rec["column"],
           "quantity": rec["quantity"], "published": rec["value"], "published_ci_low": rec["ci_low"],
           "published_ci_high": rec["ci_high"], "reproduced": np.nan, "reproduced_ci_low": np.nan,
           "reproduced_ci_high": np.nan, "ci_method": "", "difference": np.nan}

    def done(verdict, reason=""):
        return {**out, "verdict": verdict, "reason": reason}

    pv = _number(rec["value"])
    if r is not None:
        out["reproduced"] = r["value"]
    if pv is None:
        if r is None or pd.isna(r["value"]):
            return done("not evaluable", "a name, not a number; not produced by this run")
        same = "the same" if str(r["value"]) == str(rec["value"]) else "different"
        return done("not evaluable", f"a name, not a number: reproduced {r['value']!r} ({same})")
    kind = _kind(rec["quantity"])
    rv = None if r is None else _number(r["value"])
    if rv is not None and np.isfinite(rv):
        out["difference"] = rv - pv
    if kind == "count":
        return done("not evaluable", "a count: fixed by the cohort, not estimated; no CI")
    if kind == "test":
        return done("not evaluable", "a p-value or test statistic: no CI; compared in the study's table")
    if kind == "other":
        # the study may say what the number is (a descriptive mean / SD, a mean of metrics)
        return done("not evaluable", (r or {}).get("reason") or "a design parameter or setting, not an estimate")
    if rv is None or not np.isfinite(rv):
        why = (r or {}).get("reason") or "not produced by this run"
        return done("not evaluable", why)
    lo, hi = _number(r["ci_low"]), _number(r["ci_high"])
    if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi):
        out["reproduced_ci_low"], out["reproduced_ci_high"] = lo, hi
        out["ci_method"] = r["ci_method"] or "the study's"
    elif rec["quantity"].lower() in PROPORTIONS and _number(r["n"]) and np.isfinite(_number(r["n"])) and _number(r["n"]) > 0:
        scale = _number(r["scale"]) or 1.0
        lo, hi = wilson(rv / scale, int(_number(r["n"])))
        lo, hi = lo * scale, hi * scale
        out["reproduced_ci_low"], out["reproduced_ci_high"] = lo, hi
        out["ci_method"] = f"Wilson score on n={int(_number(r['n']))}"
    else:
        return done("not evaluable", r["reason"] or "no CI: an estimate without a CI or a denominator")
    return done("consistent" if lo <= pv <= hi else "inconsistent", r["reason"] or "")


def verdicts(study: str, reproduced: pd.DataFrame | None, published: pub.Published | None = None) -> pd.DataFrame:
    """One row per published number of ``study`` (:data:`COLUMNS`) with its verdict, from the
    study's reproduced numbers in long form (:data:`LONG_COLUMNS`; ``None``: nothing reproduced)."""
    P = published or pub.load(study)
    rep = _long(reproduced).set_index(["row", "column", "quantity"])
    rows = []
    for rec in P.records.to_dict("records"):
        key = (rec["row"], rec["column"], rec["quantity"])
        r = rep.loc[key].to_dict() if key in rep.index else None
        rows.append(_one(rec, r))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def counts(table: pd.DataFrame) -> dict[str, int]:
    """Verdict -> number of published numbers."""
    return {v: int((table["verdict"] == v).sum()) for v in VERDICTS}


_COLOURS = {"consistent": "tab:green", "inconsistent": "tab:red", "not evaluable": "tab:grey"}


def forest_figure(table: pd.DataFrame, path, title: str = "") -> None:
    """Published (black diamond, its CI if printed) vs reproduced (dot, 95% CI, coloured by the
    verdict), one line per numeric estimate, one panel per source table. Values over 1 that are
    proportions are drawn as fractions (a table in % is divided by 100)."""
    from .figures import pyplot, save
    plt = pyplot()
    t = table[[(_kind(q) == "estimate" and _number(v) is not None) for q, v in zip(table["quantity"], table["published"])]]
    groups = list(dict.fromkeys(t["source"])) or ["(no numeric estimate published)"]
    sizes = [max(1, int((t["source"] == g).sum())) for g in groups]
    fig, axes = plt.subplots(len(groups), 1, figsize=(8, 1.2 + 0.22 * sum(sizes) + 0.5 * len(groups)),
                             gridspec_kw={"height_ratios": sizes}, squeeze=False)
    for ax, g in zip(axes[:, 0], groups):
        d = t[t["source"] == g].reset_index(drop=True)
        for i, r in d.iterrows():
            pv = float(r["published"])
            div = 100.0 if (r["quantity"].lower() in PROPORTIONS | {"f1"} and (pv > 1 or _number(r["reproduced"]) and
                                                                              float(r["reproduced"]) > 1)) else 1.0
            y = len(d) - 1 - i
            ax.plot(pv / div, y + 0.15, "D", color="black", ms=4)
            if np.isfinite(r["published_ci_low"]):
                ax.hlines(y + 0.15, r["published_ci_low"] / div, r["published_ci_high"] / div, color="black", lw=1)
            rv = _number(r["reproduced"])
            if rv is not None and np.isfinite(rv):
                c = _COLOURS[r["verdict"]]
                ax.plot(rv / div, y - 0.15, "o", color=c, ms=4)
                if np.isfinite(r["reproduced_ci_low"]):
                    ax.hlines(y - 0.15, r["reproduced_ci_low"] / div, r["reproduced_ci_high"] / div, color=c, lw=1.5)
        ax.set_yticks(range(len(d)))
        ax.set_yticklabels([f"{r['row']} | {r['column']} | {r['quantity']}" for _, r in d.iloc[::-1].iterrows()],
                           fontsize=6)
        ax.set_ylim(-0.7, max(len(d), 1) - 0.3)
        ax.set_xlim(-0.02, 1.02)
        ax.set_title(str(g), fontsize=8, loc="left")
        ax.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel("value (proportions as fractions); black: published, colour: reproduced "
                           "(green consistent, red inconsistent, grey not evaluable)", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save(fig, path)


def reproduce(study: str, reproduced: pd.DataFrame | None, out_csv, out_png) -> pd.DataFrame:
    """Write ``reproduction.csv`` and the forest plot of ``study``; gives the verdict table."""
    from pathlib import Path
    t = verdicts(study, reproduced)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    written = t.copy()
    for c in ("published", "reproduced"):  # numbers and names in one column: numbers as %.6g
        written[c] = [f"{x:.6g}" if isinstance(x, float) and np.isfinite(x) else ("" if isinstance(x, float) else x)
                      for x in (_number(v) if _number(v) is not None else v for v in written[c])]
    written.to_csv(out_csv, index=False, float_format="%.6g")
    c = counts(t)
    forest_figure(t, out_png, f"{study}: published vs reproduced ({c['consistent']} consistent, "
                  f"{c['inconsistent']} inconsistent, {c['not evaluable']} not evaluable)")
    return t
