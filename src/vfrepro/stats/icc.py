"""Intraclass correlation: the six Shrout & Fleiss (1979) forms with F-test CIs.

Numbers match ``psych::ICC(x, lmer = FALSE)`` (the classical two-way ANOVA mean squares;
psych's default ``lmer = TRUE`` swaps in REML variance components, which differ once a
component is truncated at zero).  Checked in ``tests/test_stats_icc.py`` against R.

Forms: ICC1 (one-way random), ICC2 (two-way random, absolute agreement), ICC3 (two-way
mixed, consistency), and their average-of-k-raters versions ICC1k, ICC2k, ICC3k.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as _st

FORMS = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")

__all__ = ["FORMS", "icc", "icc_all", "long_to_wide", "icc_per_feature"]


def _mean_squares(x: np.ndarray):
    n, k = x.shape
    grand = x.mean()
    row_m, col_m = x.mean(axis=1), x.mean(axis=0)
    ss_rows = k * ((row_m - grand) ** 2).sum()
    ss_cols = n * ((col_m - grand) ** 2).sum()
    ss_tot = ((x - grand) ** 2).sum()
    ss_err = ss_tot - ss_rows - ss_cols
    msb = ss_rows / (n - 1)
    msj = ss_cols / (k - 1)
    mse = ss_err / ((n - 1) * (k - 1))
    msw = (ss_cols + ss_err) / (n * (k - 1))
    return msb, msw, msj, mse


def icc_all(x, alpha: float = 0.05) -> dict:
    """All six ICC forms for a complete targets x raters matrix.

    Takes an (n targets, k raters) array-like without missing values, n >= 2, k >= 2.
    Gives ``{form: {"icc", "F", "df1", "df2", "p", "ci_low", "ci_high"}}`` with a
    ``1 - alpha`` CI, formulas exactly as psych::ICC.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"ICC needs a targets x raters matrix, got shape {x.shape}")
    n, k = x.shape
    if n < 2 or k < 2:
        raise ValueError(f"ICC needs at least 2 targets and 2 raters, got {n} targets and {k} raters")
    if not np.isfinite(x).all():
        raise ValueError("ICC: the ratings matrix has missing values; every target needs a score from every rater")
    msb, msw, msj, mse = _mean_squares(x)

    icc1 = (msb - msw) / (msb + (k - 1) * msw)
    icc2 = (msb - mse) / (msb + (k - 1) * mse + k * (msj - mse) / n)
    icc3 = (msb - mse) / (msb + (k - 1) * mse)
    icc1k = (msb - msw) / msb
    icc2k = (msb - mse) / (msb + (msj - mse) / n)
    icc3k = (msb - mse) / msb

    f11, df11n, df11d = msb / msw, n - 1, n * (k - 1)
    f21, df21n, df21d = msb / mse, n - 1, (n - 1) * (k - 1)
    p11 = float(_st.f.sf(f11, df11n, df11d))
    p21 = float(_st.f.sf(f21, df21n, df21d))
    q = 1 - alpha / 2

    f1l = f11 / _st.f.ppf(q, df11n, df11d)
    f1u = f11 * _st.f.ppf(q, df11d, df11n)
    f3l = f21 / _st.f.ppf(q, df21n, df21d)
    f3u = f21 * _st.f.ppf(q, df21d, df21n)
    # ICC2: Satterthwaite-type df for the absolute-agreement interval (Shrout & Fleiss eq.).
    fj = msj / mse
    vn = (k - 1) * (n - 1) * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    vd = (n - 1) * k ** 2 * icc2 ** 2 * fj ** 2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    v = vn / vd
    f2u = _st.f.ppf(q, n - 1, v)
    f2l = _st.f.ppf(q, v, n - 1)
    l2 = n * (msb - f2u * mse) / (f2u * (k * msj + (k * n - k - n) * mse) + n * msb)
    u2 = n * (f2l * msb - mse) / (k * msj + (k * n - k - n) * mse + n * f2l * msb)

    rows = {
        "ICC1": (icc1, f11, df11n, df11d, p11, (f1l - 1) / (f1l + k - 1), (f1u - 1) / (f1u + k - 1)),
        "ICC2": (icc2, f21, df21n, df21d, p21, l2, u2),
        "ICC3": (icc3, f21, df21n, df21d, p21, (f3l - 1) / (f3l + k - 1), (f3u - 1) / (f3u + k - 1)),
        "ICC1k": (icc1k, f11, df11n, df11d, p11, 1 - 1 / f1l, 1 - 1 / f1u),
        "ICC2k": (icc2k, f21, df21n, df21d, p21, l2 * k / (1 + l2 * (k - 1)), u2 * k / (1 + u2 * (k - 1))),
        "ICC3k": (icc3k, f21, df21n, df21d, p21, 1 - 1 / f3l, 1 - 1 / f3u),
    }
    keys = ("icc", "F", "df1", "df2", "p", "ci_low", "ci_high")
    return {f: {kk: float(vv) for kk, vv in zip(keys, vals)} for f, vals in rows.items()}


def icc(x, form: str = "ICC2", alpha: float = 0.05) -> dict:
    """One ICC form (see :data:`FORMS`) for a targets x raters matrix; gives its result dict."""
    if form not in FORMS:
        raise ValueError(f"unknown ICC form {form!r}; choose one of {', '.join(FORMS)}")
    return icc_all(x, alpha)[form]


def long_to_wide(df: pd.DataFrame, target: str, rater: str, score: str) -> pd.DataFrame:
    """Long (target, rater, score) rows -> targets x raters table; refuses gaps and duplicates."""
    for c in (target, rater, score):
        if c not in df.columns:
            raise ValueError(f"column {c!r} not in table (columns: {list(df.columns)})")
    dup = df.duplicated([target, rater])
    if dup.any():
        r = df.loc[dup, [target, rater]].iloc[0].tolist()
        raise ValueError(f"target {r[0]!r} has more than one {score!r} from rater {r[1]!r}")
    wide = df.pivot(index=target, columns=rater, values=score)
    if wide.isna().any().any():
        t, r = next((t, r) for t in wide.index for r in wide.columns if pd.isna(wide.at[t, r]))
        raise ValueError(f"column {score!r}: target {t!r} has no score from rater {r!r} "
                         f"({int(wide.isna().sum().sum())} missing); ICC needs a complete design")
    return wide.astype(float)


def icc_per_feature(df: pd.DataFrame, target: str, rater: str, features: list[str],
                    form: str = "ICC2", alpha: float = 0.05) -> pd.DataFrame:
    """Per-feature ICC of one form, e.g. radiomic feature reproducibility across readers.

    Takes a long table (one row per target x rater, one column per feature) and the feature
    column names.  Gives a DataFrame indexed by feature with ``icc, ci_low, ci_high, F, p``.
    """
    out = {}
    for f in features:
        r = icc(long_to_wide(df, target, rater, f).to_numpy(), form, alpha)
        out[f] = {k: r[k] for k in ("icc", "ci_low", "ci_high", "F", "p")}
    return pd.DataFrame.from_dict(out, orient="index")
