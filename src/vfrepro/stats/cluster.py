"""Patient-level (cluster) bootstrap of a proportion: accuracy, sensitivity, specificity, PPV or
NPV over rows of which a patient contributes several (vertebrae, bags).

A binomial interval (Wilson) treats the rows as independent; when a patient's rows are
correlated it is too narrow, and duplicating every row within its patient shrinks it by
about 1/sqrt(2). The cluster bootstrap draws patients with replacement, all their rows
along, and takes the percentile interval of the pooled proportion (sum of correct rows over
the drawn rows, a ratio estimator): duplicating rows within patients leaves it unchanged.
"""

from __future__ import annotations

import numpy as np
from statsmodels.stats.proportion import proportion_confint

from .roc import MIN_CI_GROUPS, group_codes, resample_counts

__all__ = ["cluster_bootstrap_proportion", "proportion_ci"]

CLUSTER_METHOD = "cluster bootstrap (patients resampled with all their rows), percentile"


def _as01(x) -> np.ndarray:
    a = np.asarray(x, float)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"expected a non-empty 1-D 0/1 vector, got shape {a.shape}")
    if not np.isin(a, (0.0, 1.0)).all():
        raise ValueError("expected 0/1 values (correct / not), found others")
    return a


def cluster_bootstrap_proportion(correct01, groups, n_boot: int = 2000, seed: int = 0,
                                 conf_level: float = 0.95) -> dict:
    """Proportion of ones in ``correct01`` with a cluster bootstrap CI over ``groups``.

    Each of ``n_boot`` resamples draws as many groups as there are, with replacement; the
    resampled proportion is (ones in the drawn groups) / (rows in the drawn groups). Bounds:
    type-7 quantiles. Fewer than MIN_CI_GROUPS groups: NaN CI and a note. Gives ``value,
    ci_low, ci_high, se, n, n_groups, n_boot, method, note``; same seed -> same interval.
    """
    x = _as01(correct01)
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2, got {n_boot}")
    codes = group_codes(groups, len(x))
    G = int(codes.max()) + 1
    out = {"value": float(x.mean()), "ci_low": np.nan, "ci_high": np.nan, "se": np.nan, "n": int(len(x)),
           "n_groups": G, "n_boot": int(n_boot), "method": CLUSTER_METHOD, "note": ""}
    if G < MIN_CI_GROUPS:
        out["note"] = f"no CI: {G} patient(s) < {MIN_CI_GROUPS}"
        return out
    ones = np.bincount(codes, weights=x, minlength=G)
    rows = np.bincount(codes, minlength=G).astype(float)
    C = resample_counts(np.random.default_rng(seed), G, n_boot).astype(float)
    boots = (C @ ones) / (C @ rows)      # every group has >= 1 row, so the denominator is > 0
    alpha = 1 - conf_level
    lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
    out.update(ci_low=float(lo), ci_high=float(hi), se=float(boots.std(ddof=1)))
    return out


def proportion_ci(correct01, groups=None, n_boot: int = 2000, seed: int = 0, conf_level: float = 0.95) -> dict:
    """Proportion with a 95% CI in the right unit: the cluster bootstrap when some group
    (patient) has several rows, else the Wilson score interval (statsmodels
    ``proportion_confint``). The Wilson bounds are given beside it either way
    (``wilson_low``, ``wilson_high``). Empty input: NaN value and CI with a note."""
    x = np.asarray(correct01, float)
    if x.size == 0:
        return {"value": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n": 0, "n_groups": 0,
                "method": "", "note": "no rows", "wilson_low": np.nan, "wilson_high": np.nan}
    x = _as01(x)
    k, n = int(x.sum()), int(len(x))
    wl, wh = proportion_confint(k, n, alpha=1 - conf_level, method="wilson")
    # float round-off at 0 / n
    wl, wh = min(max(float(wl), 0.0), k / n), max(min(float(wh), 1.0), k / n)
    codes = None if groups is None else group_codes(groups, n)
    if codes is not None and np.bincount(codes).max() > 1:
        r = cluster_bootstrap_proportion(x, codes, n_boot=max(int(n_boot), 2), seed=seed, conf_level=conf_level)
        return {**{key: r[key] for key in ("value", "ci_low", "ci_high", "n", "n_groups", "method", "note")},
                "wilson_low": wl, "wilson_high": wh}
    return {"value": k / n, "ci_low": wl, "ci_high": wh, "n": n, "n_groups": n,
            "method": "Wilson score (one row per patient)" if codes is not None else "Wilson score",
            "note": "", "wilson_low": wl, "wilson_high": wh}
