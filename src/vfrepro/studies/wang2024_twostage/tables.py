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
