"""Table 1 (demographics per dataset, with the paper's tests) and Table 2 (vertebrae per class).

Datasets follow the paper: training and test from the development hospital (manifest splits
'train' and 'internal'), the alternative hospital from the external sites ('external').
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as st

from vfrepro.errors import InputError

from .slices import CLASSES, DISEASES

DATASETS: dict[str, str] = {"train": "training", "internal": "test", "external": "alternative hospital"}

CHOSEN: list[tuple[str, object, str]] = [
    ("datasets", DATASETS, "paper: Luhe training / Luhe testing / Xuanwu (another hospital); the "
     "synthetic 'prospective' split has no counterpart and is left out"),
    ("sex_test", "Pearson chi-square on the dataset x sex table, no continuity correction",
     "Table 1 note: 'Pearson chi2 test, chi2=0.732, P=0.693' (3x2 table, df 2)"),
    ("continuous_tests", "one-way ANOVA (scipy f_oneway), Bartlett's test of equal variances, "
     "Tukey HSD pairwise (scipy tukey_hsd) for age and T-score",
     "Table 1 note and Statistical analysis: 'one-way ANOVA, with Bartlett's test and Tukey's "
     "multiple comparisons'"),
    ("summary_format", "mean +- SD (ddof=1); sex n (%) of the dataset's patients",
     "Table 1: 'mean +- SD or n (%)'"),
    ("table2_percent", "count / sum of the dataset's class counts x 100",
     "Table 2's percentages sum to 100 over the six classes"),
]


def patients(manifest: pd.DataFrame, *, manifest_path: str | None = None,
             datasets: dict[str, str] = DATASETS) -> pd.DataFrame:
    """One row per patient (case_id, dataset, age, sex, t_score) for the paper's datasets."""
    need = ["case_id", "split", "age", "sex", "t_score"]
    for c in need:
        if c not in manifest.columns:
            raise InputError(f"manifest lacks column {c!r} needed by wang2024_twostage Table 1",
                             path=manifest_path, field=c)
    p = manifest[need].drop_duplicates("case_id")
    p = p[p["split"].isin(datasets)].copy()
    p["dataset"] = p["split"].map(datasets)
    return p.reset_index(drop=True)


def _mean_sd(x: pd.Series) -> str:
    x = pd.to_numeric(x, errors="coerce").dropna()
    if x.empty:
        return "n/a"
    sd = x.std(ddof=1) if len(x) > 1 else float("nan")
    return f"{x.mean():.1f} ± {sd:.1f}"


def _continuous_tests(p: pd.DataFrame, var: str, order: list[str]) -> list[dict]:
    groups = [pd.to_numeric(p.loc[p["dataset"] == d, var], errors="coerce").dropna().to_numpy(float)
              for d in order]
    ok = [g for g in groups if len(g) >= 2]
    out = []
    if len(ok) >= 2 and len(ok) == len(groups):
        a = st.f_oneway(*groups)
        out.append({"variable": var, "test": "one-way ANOVA", "statistic": float(a.statistic),
                    "p": float(a.pvalue), "note": ""})
        b = st.bartlett(*groups)
        out.append({"variable": var, "test": "Bartlett", "statistic": float(b.statistic),
                    "p": float(b.pvalue), "note": ""})
        t = st.tukey_hsd(*groups)
        for i in range(len(order)):
            for j in range(i + 1, len(order)):
                out.append({"variable": var, "test": f"Tukey HSD {order[i]} vs {order[j]}",
                            "statistic": float(t.statistic[i, j]), "p": float(t.pvalue[i, j]),
                            "note": ""})
    else:
        out.append({"variable": var, "test": "one-way ANOVA", "statistic": np.nan, "p": np.nan,
                    "note": "fewer than 2 patients in a dataset"})
    return out


def table1(manifest: pd.DataFrame, slices_per_patient: pd.Series | dict | None = None, *,
           manifest_path: str | None = None, datasets: dict[str, str] = DATASETS):
    """Table 1 and its tests.

    `slices_per_patient`: number of slices per case_id (e.g. slices_table(...).groupby('case_id')
    .slice_id.nunique()).  Gives (table: rows = characteristic, columns = datasets; tests:
    variable, test, statistic, p, note).
    """
    p = patients(manifest, manifest_path=manifest_path, datasets=datasets)
    order = [d for d in datasets.values() if (p["dataset"] == d).any()]
    sl = pd.Series(slices_per_patient) if slices_per_patient is not None else None
    rows: dict[str, dict[str, object]] = {}
    for d in order:
        g = p[p["dataset"] == d]
        n = len(g)
        sex = g["sex"].astype(str).str.upper()
        col = {"Patient count": n, "Age (year)": _mean_sd(g["age"]),
               "Male, n (%)": f"{int((sex == 'M').sum())} ({100 * (sex == 'M').mean():.1f})",
               "Female, n (%)": f"{int((sex == 'F').sum())} ({100 * (sex == 'F').mean():.1f})",
               "DEXA T-score": _mean_sd(g["t_score"])}
        if sl is not None:
            col["Number of slices"] = int(sl.reindex(g["case_id"]).fillna(0).sum())
        rows[d] = col
    table = pd.DataFrame(rows)
    tests = []
    ct = pd.crosstab(p["dataset"], p["sex"].astype(str).str.upper()).reindex(order)
    if ct.shape[0] >= 2 and ct.shape[1] >= 2 and (ct.sum(axis=0) > 0).all():
        chi = st.chi2_contingency(ct.to_numpy(), correction=False)
        tests.append({"variable": "sex", "test": "Pearson chi-square", "statistic": float(chi.statistic),
                      "p": float(chi.pvalue), "note": f"df={int(chi.dof)}"})
    else:
        tests.append({"variable": "sex", "test": "Pearson chi-square", "statistic": np.nan,
                      "p": np.nan, "note": "one sex or one dataset only"})
    for var in ("age", "t_score"):
        tests.extend(_continuous_tests(p, var, order))
    return table, pd.DataFrame(tests, columns=["variable", "test", "statistic", "p", "note"])


def table2(vertebrae: pd.DataFrame, *, dataset_col: str = "dataset",
           order: list[str] | None = None) -> pd.DataFrame:
    """Vertebrae (patches) per class per dataset: columns '<class>' (n) and '<class> %'.

    `vertebrae`: one row per vertebra box with dataset_col and the 0/1 columns of DISEASES
    (normal is derived as no disease when absent).
    """
    v = vertebrae.copy()
    for c in (dataset_col, *DISEASES):
        if c not in v.columns:
            raise InputError(f"vertebra table lacks column {c!r}", field=c)
    if "normal" not in v.columns:
        v["normal"] = (v[list(DISEASES)].sum(axis=1) == 0).astype(int)
    counts = v.groupby(dataset_col)[list(CLASSES)].sum()
    if order is not None:
        counts = counts.reindex([o for o in order if o in counts.index])
    tot = counts.sum(axis=1).replace(0, np.nan)
    out = pd.DataFrame(index=counts.index)
    for c in CLASSES:
        out[c] = counts[c].astype(int)
        out[f"{c} %"] = (100 * counts[c] / tot).round(1)
    out.index.name = "dataset"
    return out


# the tables the reproduction verdict reads (results/wang2024_twostage/...)
REPRODUCTION_INPUTS = ("table1.csv", "table1_tests.csv", "table2.csv", "detection_table.csv", "table3.csv")

_T3_METRICS = ("sensitivity", "specificity", "ppv", "npv", "f1")
_T3_SUMMARY = {"mean (no SN)": "mean", "sd (no SN)": "sd"}
_SUMMARY_COLUMN = "mean of ovcf, of, kd, ps"
_PAIRS = {"training vs test", "training vs alternative hospital", "test vs alternative hospital"}


def _split_summary(cell) -> tuple[float, float]:
    """'69.2 ± 9.4' -> (69.2, 9.4); '27 (40.9)' -> (27, 40.9); anything else -> NaNs."""
    import re
    m = re.fullmatch(r"\s*(-?[\d.]+)\s*(?:±|\()\s*(-?[\d.]+|nan)\)?\s*", str(cell))
    return (float(m.group(1)), float(m.group(2))) if m else (np.nan, np.nan)


def _finite(v) -> bool:
    try:
        return bool(np.isfinite(float(v)))
    except (TypeError, ValueError):
        return False


def reproduced_long(results, inputs=REPRODUCTION_INPUTS) -> pd.DataFrame:
    """This study's reproduced numbers in the verdict's long form (vfrepro.evaluate.verdict),
    keyed like the published records: Table 1 (counts, mean/SD, sex n/%), its tests, Table 2
    (vertebrae per class), the detector's mAP (no CI: the evaluation computes none), FP and FN
    rates in percent with their denominators (FP / detected boxes, FN / annotated boxes: the
    Wilson rule), Table 3 per dataset and class with the study's CIs (Wilson, bootstrap for F1)
    and the SN-excluded mean / SD rows (no CI, no denominator). ``inputs``: the tables read (a
    table left out gives no rows: its published numbers are 'not produced by this run')."""
    from pathlib import Path
    res = Path(results)
    rows: list[dict] = []

    def _read(name, columns=(), **kw):
        return pd.read_csv(res / name, **kw) if name in inputs else pd.DataFrame(columns=list(columns))

    t1 = _read("table1.csv", index_col=0)
    for ds in t1.columns:
        col = t1[ds]
        for label, row in (("Patient count", "Patient count"), ("Number of slices", "Number of slices")):
            if label in col.index:
                rows.append({"row": row, "column": ds, "quantity": "n", "value": pd.to_numeric(col[label], errors="coerce")})
        for label, row in (("Age (year)", "Age (year)"), ("DEXA T-score", "DEXA T-score")):
            if label in col.index:
                m, s = _split_summary(col[label])
                why = "a descriptive statistic of the cohort (mean / SD), not an estimate with a CI"
                rows += [{"row": row, "column": ds, "quantity": "mean", "value": m, "reason": why},
                         {"row": row, "column": ds, "quantity": "sd", "value": s, "reason": why}]
        for label, row in (("Male, n (%)", "Male"), ("Female, n (%)", "Female")):
            if label in col.index:
                n, pct = _split_summary(col[label])
                rows += [{"row": row, "column": ds, "quantity": "n", "value": n},
                         {"row": row, "column": ds, "quantity": "percent", "value": pct,
                          "reason": "a descriptive share of the cohort (n %), fixed by the cohort, not estimated"}]

    tests = _read("table1_tests.csv")
    var_row = {"sex": "sex", "age": "age", "t_score": "DEXA T-score"}
    for r in tests.to_dict("records"):
        row = var_row.get(str(r["variable"]), str(r["variable"]))
        if r["test"] == "Pearson chi-square":
            rows += [{"row": row, "column": "all datasets", "quantity": "chi2", "value": r["statistic"]},
                     {"row": row, "column": "all datasets", "quantity": "p", "value": r["p"]}]
        elif r["test"] == "one-way ANOVA":
            rows.append({"row": row, "column": "all datasets", "quantity": "p", "value": r["p"]})
        elif str(r["test"]).startswith("Tukey HSD ") and str(r["test"])[10:] in _PAIRS:
            rows.append({"row": row, "column": str(r["test"])[10:], "quantity": "p", "value": r["p"]})

    t2 = _read("table2.csv")
    for r in t2.to_dict("records"):
        for c in CLASSES:
            rows.append({"row": r["dataset"], "column": c, "quantity": "n", "value": r.get(c, np.nan)})
            rows.append({"row": r["dataset"], "column": c, "quantity": "percent", "value": r.get(f"{c} %", np.nan),
                         "reason": "a descriptive share of the cohort's vertebrae, fixed by the cohort, not estimated"})

    det = _read("detection_table.csv", columns=("row", "column", "quantity", "value"))
    first: dict[tuple, float] = {}
    for (ds, bb), g in det.groupby(["row", "column"], sort=False):
        v = g.set_index("quantity")["value"]
        for q in ("images", "vertebrae"):
            if q in v.index:
                first.setdefault((ds, q), v[q])
        if "map" in v.index:
            rows.append({"row": ds, "column": bb, "quantity": "map", "value": v["map"],
                         "reason": "no CI: the detection evaluation gives mAP without one "
                                   "(and no denominator: not a proportion)"})
        if "p" in v.index:
            rows.append({"row": ds, "column": bb, "quantity": "p", "value": v["p"]})
        for q, den in (("fp_rate_pct", "detected"), ("fn_rate_pct", "vertebrae")):
            if q in v.index:
                n = v.get(den, np.nan)
                rows.append({"row": ds, "column": bb, "quantity": q, "value": v[q], "scale": 100.0,
                             "n": n if _finite(n) and float(n) > 0 else np.nan,
                             "reason": "" if _finite(n) and float(n) > 0 else f"no {den} boxes: no denominator"})
    for (ds, q), v in first.items():
        rows.append({"row": ds, "column": "detection", "quantity": q, "value": v})

    t3 = _read("table3.csv", keep_default_na=False, na_values=[""])
    for r in t3.to_dict("records"):
        ds, cls = str(r["dataset"]), str(r["class"])
        note = str(r.get("note") or "")
        if cls in _T3_SUMMARY:
            stat = _T3_SUMMARY[cls]
            for mt in _T3_METRICS:
                rows.append({"row": ds, "column": _SUMMARY_COLUMN, "quantity": f"{mt}_{stat}",
                             "value": r[f"{mt}_reproduced"],
                             "reason": f"{'a mean' if stat == 'mean' else 'an SD'} of one-vs-all metrics over classes: "
                                       "no CI, no denominator"})
            continue
        n, n_pos = r.get("n"), r.get("n_pos")
        dens = {"sensitivity": n_pos, "specificity": (n - n_pos) if _finite(n) and _finite(n_pos) else np.nan}
        for mt in _T3_METRICS:
            lo, hi = r.get(f"{mt}_ci_low", np.nan), r.get(f"{mt}_ci_high", np.nan)
            rows.append({"row": ds, "column": cls, "quantity": mt, "value": r[f"{mt}_reproduced"],
                         "ci_low": lo, "ci_high": hi,
                         "ci_method": (str(r["ci_method"]) if str(r.get("ci_method") or "") not in ("", "nan")
                                       else "percentile bootstrap" if mt == "f1" else "Wilson"),
                         "n": dens.get(mt, np.nan),
                         "reason": "" if _finite(r[f"{mt}_reproduced"]) else (note or "not defined on this split")})
        if cls == "normal" and _finite(n) and _finite(n_pos):
            rows += [{"row": ds, "column": "normal patches", "quantity": "n", "value": n_pos},
                     {"row": ds, "column": "diseased patches", "quantity": "n", "value": n - n_pos}]
    return pd.DataFrame(rows)


# the classifier's patch-level predictions (``vfrepro tables`` paper=CSV [automatic=CSV]): Table 3,
# ROC and confusion figures; the evaluate stage's slices / detections are optional (examples figure)
PREDICTION_MODELS = ("paper", "automatic")
PREDICTION_EXTRAS = ("slices", "detections")
DETECTION_SKIPPED = ("wang2024_twostage: skipped Tables 1-2 and the detection tables (detection_table.csv, "
                     "PR curves, counts): they need the slices and the detector's boxes (the `slices` and "
                     "`detection-eval` stages); their published numbers are 'not produced by this run'")


def predictions_long(results) -> pd.DataFrame:
    """``reproduced_long`` on Table 3 alone (what predictions give)."""
    return reproduced_long(results, inputs=("table3.csv",))


def from_predictions(paths: dict, out, cfg: dict, infos: dict | None = None, extras: dict | None = None) -> list[str]:
    """The evaluate stage's files from the classifier's predictions (its own command: nothing
    recomputed differently): table3.csv / .md (table3_automatic.csv from ``automatic=``), ROC and
    confusion figures, chosen.csv. ``infos``: the classify stage's info.json (``paper=``; the
    Markdown's header), optional. ``extras``: ``slices`` (slices.npz) and ``detections``
    (detections.csv), both for the examples figure. ``cfg``: threshold, n_boot, seed."""
    import argparse
    import json

    from ...errors import InputError
    from .cli import _evaluate
    extras = extras or {}
    if "paper" not in paths:
        raise InputError("wang2024_twostage needs the paper path's predictions (paper=predictions.csv)",
                         field="--predictions")
    if bool(extras.get("slices")) != bool(extras.get("detections")):
        raise InputError("the examples figure needs both --slices and --detections", field="--slices")
    info = (infos or {}).get("paper") or next(iter((infos or {}).values()), None)
    _evaluate(argparse.Namespace(predictions=str(paths["paper"]),
                                 predictions_automatic=str(paths["automatic"]) if "automatic" in paths else None,
                                 info=str(info) if info else None,
                                 slices=str(extras["slices"]) if extras.get("slices") else None,
                                 detections=str(extras["detections"]) if extras.get("detections") else None,
                                 cfg=json.dumps(cfg), out=str(out)))
    print(DETECTION_SKIPPED)
    if not extras.get("slices"):
        print("wang2024_twostage: skipped examples.png: it needs the slices and a detector's boxes "
              "(give --slices slices.npz --detections detections.csv)")
    return ["table3.csv", "table3_automatic.csv", "table3.md", "roc_curves.png", "chosen.csv"]
