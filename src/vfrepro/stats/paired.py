"""Paired tests for reader studies: paired t-test and McNemar (exact and continuity-corrected).

Match R's ``t.test(a, b, paired = TRUE)`` and ``mcnemar.test`` / ``binom.test`` on the
discordant pairs (checked in ``tests/test_stats_paired.py``).
"""

from __future__ import annotations

import numpy as np
from scipy import stats as _st

__all__ = ["paired_t", "mcnemar"]


def paired_t(a, b, conf_level: float = 0.95) -> dict:
    """Paired t-test of mean(a - b) = 0 (R ``t.test(a, b, paired=TRUE)``).

    Takes two equal-length numeric arrays (same cases).  Gives ``mean_diff, t, df, p``
    (two-sided) and ``ci_low, ci_high`` of the mean difference.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired t-test needs two 1-D arrays of equal length (got {a.shape}, {b.shape})")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired t-test: missing or infinite values")
    d = a - b
    n = len(d)
    if n < 2:
        raise ValueError(f"paired t-test needs at least 2 pairs, got {n}")
    sd = d.std(ddof=1)
    if sd == 0:
        raise ValueError("paired t-test: the differences are constant (data are essentially constant)")
    se = sd / np.sqrt(n)
    t = d.mean() / se
    df = n - 1
    q = _st.t.ppf(1 - (1 - conf_level) / 2, df)
    return {"mean_diff": float(d.mean()), "t": float(t), "df": float(df), "p": float(2 * _st.t.sf(abs(t), df)),
            "ci_low": float(d.mean() - q * se), "ci_high": float(d.mean() + q * se), "n": int(n)}


def mcnemar(a, b, exact: bool = False, correct: bool = True) -> dict:
    """McNemar's test on paired binary outcomes (e.g. reader correct with / without AI).

    Takes two equal-length 0/1 (or boolean) arrays.  ``exact=True``: two-sided exact binomial
    test on the discordant pairs (R ``binom.test(b, b + c)``).  Otherwise the chi-square
    statistic with (``correct=True``, R's default) or without continuity correction
    (R ``mcnemar.test``).  Gives ``b`` (a=1, b=0), ``c`` (a=0, b=1), ``statistic`` (NaN for
    exact), ``p``, ``method``.
    """
    a, b_ = np.asarray(a), np.asarray(b)
    if a.shape != b_.shape or a.ndim != 1:
        raise ValueError(f"McNemar needs two 1-D arrays of equal length (got {a.shape}, {b_.shape})")
    for name, x in (("a", a), ("b", b_)):
        if not np.isin(x, [0, 1, True, False]).all():
            raise ValueError(f"McNemar: outcome {name} must be 0/1, found {sorted(set(x.tolist()) - {0, 1})[:5]}")
    a, b_ = a.astype(bool), b_.astype(bool)
    n10 = int((a & ~b_).sum())
    n01 = int((~a & b_).sum())
    nd = n10 + n01
    if exact:
        p = 1.0 if nd == 0 else float(_st.binomtest(n10, nd, 0.5).pvalue)
        return {"b": n10, "c": n01, "statistic": float("nan"), "p": p, "method": "exact"}
    if nd == 0:
        raise ValueError("McNemar chi-square undefined: no discordant pairs (use --exact, p = 1)")
    # As R: the Yates term applies only when the table is not symmetric (b != c).
    yates = 1 if (correct and n10 != n01) else 0
    stat = float((abs(n10 - n01) - yates) ** 2 / nd)
    return {"b": n10, "c": n01, "statistic": stat, "p": float(_st.chi2.sf(stat, 1)),
            "method": "chi2-corrected" if correct else "chi2"}
