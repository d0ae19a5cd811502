"""Multiplicity correction of a family of p-values (R ``p.adjust``), by statsmodels.

A thin wrapper of :func:`statsmodels.stats.multitest.multipletests` that takes R's method
names as well as statsmodels' and passes NaNs through: a NaN p (a test that could not be
run) is not counted in the family, as R's ``p.adjust(p, n = length(p[!is.na(p)]))``.
Checked against R in ``tests/test_stats_cluster.py``.
"""

from __future__ import annotations

import numpy as np
from statsmodels.stats.multitest import multipletests

__all__ = ["adjust_p", "P_ADJUST_METHODS"]

# R p.adjust name -> statsmodels name
P_ADJUST_METHODS = {"holm": "holm", "bonferroni": "bonferroni", "hochberg": "simes-hochberg",
                    "hommel": "hommel", "BH": "fdr_bh", "fdr": "fdr_bh", "BY": "fdr_by", "none": None}


def adjust_p(pvals, method: str = "holm") -> np.ndarray:
    """Adjusted p-values (same shape as ``pvals``; NaN where the input is NaN).

    ``method``: an R ``p.adjust`` name (holm, bonferroni, hochberg, hommel, BH/fdr, BY, none)
    or a statsmodels ``multipletests`` name (e.g. fdr_bh). Raises ValueError on p outside
    [0, 1] or an unknown method.
    """
    p = np.asarray(pvals, dtype=float)
    sm = P_ADJUST_METHODS.get(method, method)
    known = set(P_ADJUST_METHODS) | {v for v in P_ADJUST_METHODS.values() if v}
    if method not in known:
        raise ValueError(f"unknown p-value adjustment {method!r}; one of {sorted(P_ADJUST_METHODS)}")
    flat = p.ravel()
    ok = np.isfinite(flat)
    if ((flat[ok] < 0) | (flat[ok] > 1)).any():
        raise ValueError("p-values must lie in [0, 1]")
    out = np.full(flat.shape, np.nan)
    if ok.any():
        out[ok] = flat[ok] if sm is None else multipletests(flat[ok], method=sm)[1]
    return out.reshape(p.shape)
