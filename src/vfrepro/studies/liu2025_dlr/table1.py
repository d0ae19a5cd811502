"""liu2025_dlr Table 1: baseline characteristics of the vertebrae by cohort (training, internal,
external, prospective) with tests of difference between cohorts (scipy). Counts are of vertebrae,
as the paper's Table 1; nothing that identifies a patient is written (only counts, means, SDs, p).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .cohort import CLASSES, SPLIT_NAMES, SPLITS, segment

CHOSEN: list[tuple[str, object, str]] = [
    ("table1.unit", "vertebrae (counts and percentages), as the paper's Table 1 (n = 750/187/110/51)",
     "the paper's cohort sizes count fractured vertebrae"),
    ("table1.continuous_test", "one-way ANOVA over the 4 cohorts, one row per patient (age, T-score)",
     "the paper names independent t tests (two groups) for continuous variables; with four cohorts its "
     "parametric extension is the one-way ANOVA. A patient's several vertebrae share age and T-score, so "
     "patient rows keep the test's independence"),
    ("table1.categorical_test", "Pearson chi-square test of independence (scipy, no continuity "
     "correction): sex per patient; location, level and ASTLOF class per vertebra",
     "the paper names chi-square tests; vertebrae of one patient are taken as independent for the "
     "vertebra-level rows (stated; a cohort is assigned by patient). Small expected counts are flagged"),
    ("table1.rows", "sex, age, T-score, fracture location, level, ASTLOF class",
     "the paper's Table 1 rows the cohort table has; fracture staging and therapeutic method are not in the "
     "synthetic manifest, and the paper reports ASTLOF points bands (1-3, 4, 5-8) where the cohort has the class"),
]

_MIN_EXPECTED = 5  # chi-square's usual rule of thumb: flag any expected count below it


def _chi2(tab: pd.DataFrame) -> tuple[float, str]:
    tab = tab.loc[tab.sum(axis=1) > 0, tab.sum(axis=0) > 0]
    if tab.shape[0] < 2 or tab.shape[1] < 2:
        return float("nan"), "chi-square (not testable: one category or one cohort)"
    chi2, p, dof, expected = stats.chi2_contingency(tab.to_numpy(), correction=False)
    note = f" (expected count < {_MIN_EXPECTED} in {int((expected < _MIN_EXPECTED).sum())} cell(s))" \
        if (expected < _MIN_EXPECTED).any() else ""
    return float(p), f"chi-square, df {dof}{note}"


def _anova(values: pd.Series, groups: pd.Series) -> tuple[float, str]:
    parts = [values[groups == s].astype(float).dropna() for s in SPLITS]
    parts = [g for g in parts if len(g)]
    if len(parts) < 2 or any(len(g) < 2 for g in parts):
        return float("nan"), "one-way ANOVA (not testable: a cohort with < 2 patients)"
    return float(stats.f_oneway(*parts).pvalue), "one-way ANOVA (per patient)"


def table1(cohort: pd.DataFrame) -> pd.DataFrame:
    """Rows: characteristic, category, one column per cohort (``n (%)`` or ``mean (SD)``), test, p.
    ``cohort``: the study's vertebra table (cohort.csv)."""
    c = cohort.copy()
    if "segment" not in c:
        c["segment"] = [segment(v) for v in c["level"]]
    present = [s for s in SPLITS if (c["split"] == s).any()]
    cols = [SPLIT_NAMES[s] for s in SPLITS]
    n = c["split"].value_counts()
    patients = c.drop_duplicates("case_id")
    rows = []

    def add(char, cat, cells, test="", p=np.nan):
        rows.append({"characteristic": char, "category": cat, **dict(zip(cols, cells)), "test": test, "p": p})

    add("Vertebrae, n", "", [str(int(n.get(s, 0))) for s in SPLITS])
    add("Patients, n", "", [str(int((patients["split"] == s).sum())) for s in SPLITS])

    def counts(char, col, order, tab_rows):
        p, test = _chi2(pd.crosstab(tab_rows[col], tab_rows["split"]).reindex(columns=present, fill_value=0))
        first = True
        for v in order:
            cells = []
            for s in SPLITS:
                k = int(((c["split"] == s) & (c[col] == v)).sum())
                cells.append(f"{k} ({100 * k / n[s]:.1f})" if n.get(s, 0) else "0")
            add(char, str(v), cells, test if first else "", p if first else np.nan)
            first = False

    counts("Sex, n (%)", "sex", [v for v in ("F", "M") if v in set(c["sex"])] +
           sorted(set(c["sex"]) - {"F", "M"}), patients)
    for char, col in (("Age (years), mean (SD)", "age"), ("T-score, mean (SD)", "t_score")):
        if col not in c:
            continue
        p, test = _anova(patients[col], patients["split"])
        cells = []
        for s in SPLITS:
            v = c.loc[c["split"] == s, col].astype(float)
            cells.append(f"{v.mean():.2f} ({v.std(ddof=1):.2f})" if len(v) > 1 else (f"{v.mean():.2f}" if len(v) else ""))
        add(char, "", cells, test, p)
    counts("Fracture location, n (%)", "segment", [v for v in ("thoracic", "lumbar") if v in set(c["segment"])]
           + sorted(set(c["segment"]) - {"thoracic", "lumbar"}), c)
    from vfrepro.cohort.labels import level_code
    levels = sorted(set(c["level"].astype(str)), key=lambda v: (level_code(v) if _known(v) else 999, v))
    c["level"] = c["level"].astype(str)
    counts("Level, n (%)", "level", levels, c)
    counts("ASTLOF class, n (%)", "label", [k for k in CLASSES], c)
    return pd.DataFrame(rows)


def _known(level: str) -> bool:
    from vfrepro.cohort.labels import LEVEL_CODES
    return level in LEVEL_CODES


def markdown(t: pd.DataFrame) -> str:
    """Table 1 as Markdown, with its notes and the CHOSEN readings."""
    cols = [c for c in t.columns if c not in ("characteristic", "category", "test", "p")]
    head = ["Characteristic", *cols, "Test", "P"]
    lines = ["# liu2025_dlr Table 1: baseline characteristics by cohort", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for d in t.to_dict(orient="records"):
        name = f"{d['characteristic']}: {d['category']}" if d["category"] else d["characteristic"]
        p = "" if not np.isfinite(d["p"]) else (f"{d['p']:.3f}" if d["p"] >= 0.001 else "<.001")
        lines.append("| " + " | ".join([name, *[str(d[c]) for c in cols], d["test"], p]) + " |")
    lines += ["", "Counts are of vertebrae; percentages within each cohort. P: difference between the cohorts "
              "present (a cohort without vertebrae is left out).", "",
              "## Readings taken", ""]
    lines += [f"- **{s}**: {v}. {why}" for s, v, why in CHOSEN]
    return "\n".join(lines) + "\n"
