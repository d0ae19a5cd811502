"""ROC AUC, DeLong variance / CI / paired test, and the stratified bootstrap of the AUC.

Conventions (stated once, used everywhere):

* ``truth`` is a 0/1 array (1 = positive case); ``score`` is any real array.
* Direction: a higher score means "more likely positive" (pROC's ``direction="<"``:
  controls < cases).  pROC's default ``direction="auto"`` instead picks the direction
  from the medians, which silently turns an AUC of 0.3 into 0.7; we never do that.  Pass
  ``direction=">"`` when a *lower* score means positive.
* Ties between a positive and a negative count 1/2 (Mann-Whitney), as in pROC.

DeLong's variance uses the O(n log n) midrank algorithm of Sun & Xu (2014, IEEE SPL 21:1389);
numbers match pROC 1.18's ``ci.auc(method="delong")`` and ``roc.test(method="delong")``
(checked in ``tests/test_stats_roc.py`` against R).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

# Below these counts a CI is not reported (NaN with a note): a percentile interval from a
# handful of cases is two or three distinct values, not an interval estimate.
MIN_CI_POS = 5
MIN_CI_NEG = 5
MIN_CI_GROUPS = 5

__all__ = [
    "as_binary",
    "auc",
    "delong_placements",
    "delong_ci",
    "delong_test",
    "bootstrap_auc_ci",
    "cluster_bootstrap_auc_ci",
    "cluster_counts",
    "has_repeats",
    "group_codes",
    "ci_shortfall",
    "MIN_CI_POS",
    "MIN_CI_NEG",
    "MIN_CI_GROUPS",
    "weighted_auc_batch",
    "naive_delong_test",
]


def as_binary(truth, positive=None, *, name: str = "truth") -> np.ndarray:
    """Turn a label vector into 0/1 (1 = positive).

    Takes any 1-D labels and the positive label.  Without ``positive`` the labels must be
    exactly two values; 0/1 or False/True are taken as they are, otherwise the larger
    (sorted) value is positive.  Gives an int8 array.  Raises ValueError naming ``name``
    when there are not exactly two classes or the positive label is absent.
    """
    t = np.asarray(truth)
    if t.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D label vector, got shape {t.shape}")
    if t.dtype.kind == "f" and np.isnan(t).any():
        raise ValueError(f"{name}: contains missing values")
    if positive is not None:
        # Compare as strings too, so `--positive 1` works on an integer column read from CSV.
        hit = (t == positive) | (t.astype(str) == str(positive))
        if not hit.any():
            raise ValueError(f"{name}: positive label {positive!r} does not occur "
                             f"(values: {sorted(set(t.astype(str).tolist()))[:10]})")
        if hit.all():
            raise ValueError(f"{name}: every case has the positive label {positive!r}; need negatives too")
        return hit.astype(np.int8)
    levels = np.unique(t)
    if len(levels) != 2:
        raise ValueError(f"{name}: need exactly two classes for a ROC curve, found {len(levels)} "
                         f"({levels[:10].tolist()}); pass the positive label explicitly")
    return (t == levels[1]).astype(np.int8)


def _split(truth, score, direction: str):
    y = np.asarray(truth)
    s = np.asarray(score, dtype=float)
    if s.ndim != 1 or y.shape != s.shape:
        raise ValueError(f"truth and score must be 1-D of equal length (got {y.shape} and {s.shape})")
    if not np.isfinite(s).all():
        raise ValueError("score contains NaN or infinite values")
    if direction not in ("<", ">"):
        raise ValueError(f"direction must be '<' (higher score = positive) or '>', got {direction!r}")
    if direction == ">":
        s = -s
    pos = s[y == 1]
    neg = s[y == 0]
    if len(pos) + len(neg) != len(y):
        raise ValueError("truth must be 0/1 (use as_binary first)")
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError(f"need at least one positive and one negative case (got {len(pos)} and {len(neg)})")
    return pos, neg


def delong_placements(truth, scores, direction: str = "<"):
    """Sun & Xu midrank placements for one or more score vectors on the same cases.

    Takes 0/1 ``truth`` (n,) and ``scores`` of shape (n,) or (k, n).  Gives
    ``(theta, v10, v01)``: AUCs (k,), positive-case placements (k, m) and negative-case
    placements (k, n_neg).  O(k n log n): three rankings per score vector.
    """
    y = np.asarray(truth)
    S = np.atleast_2d(np.asarray(scores, dtype=float))
    if direction == ">":
        S = -S
    elif direction != "<":
        raise ValueError(f"direction must be '<' or '>', got {direction!r}")
    if not np.isfinite(S).all():
        raise ValueError("score contains NaN or infinite values")
    pos_mask = y == 1
    X = S[:, pos_mask]
    Y = S[:, ~pos_mask]
    m, n = X.shape[1], Y.shape[1]
    if m == 0 or n == 0:
        raise ValueError(f"need at least one positive and one negative case (got {m} and {n})")
    # Midranks (average ties) within positives, within negatives and overall.
    tx = _st.rankdata(X, axis=1)
    ty = _st.rankdata(Y, axis=1)
    tz = _st.rankdata(np.concatenate([X, Y], axis=1), axis=1)
    theta = (tz[:, :m].sum(axis=1) / m - (m + 1) / 2.0) / n
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    return theta, v10, v01


def auc(truth, score, direction: str = "<") -> float:
    """ROC AUC (Mann-Whitney, ties 1/2).  Takes 0/1 truth and scores; gives a float."""
    _split(truth, score, direction)
    theta, _, _ = delong_placements(truth, score, direction)
    return float(theta[0])


def _delong_cov(v10, v01):
    m, n = v10.shape[1], v01.shape[1]
    # np.cov with ddof=1 is pROC's /(m-1) and /(n-1).
    sx = np.atleast_2d(np.cov(v10, ddof=1)) if m > 1 else np.full((v10.shape[0],) * 2, np.nan)
    sy = np.atleast_2d(np.cov(v01, ddof=1)) if n > 1 else np.full((v01.shape[0],) * 2, np.nan)
    return sx / m + sy / n


@dataclass(frozen=True)
class AUCResult:
    auc: float
    ci_low: float
    ci_high: float
    method: str
    n_pos: int
    n_neg: int
    se: float | None = None

    def as_dict(self) -> dict:
        d = {"auc": self.auc, "ci_low": self.ci_low, "ci_high": self.ci_high, "method": self.method,
             "n_pos": self.n_pos, "n_neg": self.n_neg}
        return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in d.items()}


def delong_ci(truth, score, conf_level: float = 0.95, direction: str = "<") -> AUCResult:
    """AUC with DeLong's CI, as pROC ``ci.auc(method="delong")``.

    Normal interval around the AUC with DeLong's SE, clipped to [0, 1] like pROC.  With a
    single positive or negative the variance is undefined and the bounds are NaN (pROC: NA).
    """
    pos, neg = _split(truth, score, direction)
    theta, v10, v01 = delong_placements(truth, score, direction)
    a = float(theta[0])
    var = float(_delong_cov(v10, v01)[0, 0])
    z = _st.norm.ppf(1 - (1 - conf_level) / 2)
    se = float(np.sqrt(var)) if np.isfinite(var) else float("nan")
    lo, hi = float(np.clip(a - z * se, 0, 1)), float(np.clip(a + z * se, 0, 1))
    return AUCResult(a, lo, hi, "delong", len(pos), len(neg), se)


def delong_test(truth, score_a, score_b, conf_level: float = 0.95, direction: str = "<") -> dict:
    """DeLong's test for two correlated ROC curves on the same cases (pROC ``roc.test``).

    Takes 0/1 truth and two score vectors on the same cases.  Gives a dict with
    ``auc_a, auc_b, z, p`` (two-sided) and ``ci_low, ci_high`` (CI of auc_a - auc_b, not
    clipped, like pROC).  Identical curves give z = 0, p = 1 (pROC's convention).
    """
    _split(truth, score_a, direction)
    _split(truth, score_b, direction)
    theta, v10, v01 = delong_placements(truth, np.vstack([score_a, score_b]), direction)
    S = _delong_cov(v10, v01)
    L = np.array([1.0, -1.0])
    var = float(L @ S @ L)
    sig = float(np.sqrt(max(var, 0.0)))
    d = float(theta[0] - theta[1])
    if sig == 0.0:
        z = 0.0 if d == 0.0 else float(np.sign(d) * np.inf)
    else:
        z = d / sig
    p = float(2 * _st.norm.sf(abs(z)))
    crit = _st.norm.ppf(1 - (1 - conf_level) / 2)
    return {"auc_a": float(theta[0]), "auc_b": float(theta[1]), "z": float(z), "p": p,
            "ci_low": d - crit * sig, "ci_high": d + crit * sig}


def naive_delong_test(truth, score_a, score_b) -> dict:
    """O(n_pos * n_neg) DeLong (the 1988 definition, pairwise kernel).  For benchmarks and tests."""
    y = np.asarray(truth)
    out = []
    for s in (np.asarray(score_a, float), np.asarray(score_b, float)):
        X, Y = s[y == 1], s[y == 0]
        psi = (X[:, None] > Y[None, :]) + 0.5 * (X[:, None] == Y[None, :])
        out.append((psi.mean(), psi.mean(axis=1), psi.mean(axis=0)))
    (ta, xa, ya), (tb, xb, yb) = out
    m, n = len(xa), len(ya)
    S = np.cov(np.vstack([xa, xb])) / m + np.cov(np.vstack([ya, yb])) / n
    sig = np.sqrt(S[0, 0] + S[1, 1] - 2 * S[0, 1])
    z = (ta - tb) / sig if sig > 0 else 0.0
    return {"auc_a": float(ta), "auc_b": float(tb), "z": float(z), "p": float(2 * _st.norm.sf(abs(z)))}


def weighted_auc_batch(pos_scores, neg_scores, w_pos, w_neg, chunk: int = 256) -> np.ndarray:
    """AUCs of many weighted resamples at once, without re-sorting per resample.

    Takes positive scores (m,), negative scores (n,), and count weights ``w_pos`` (B, m),
    ``w_neg`` (B, n) (how often each case was drawn).  Gives (B,) AUCs, ties 1/2.
    Cost O(B (m + n)) after one sort: for each positive, the weighted number of negatives
    below it is a cumulative sum of negative weights at a fixed (searchsorted) index.
    """
    pos_scores = np.asarray(pos_scores, float)
    neg_scores = np.asarray(neg_scores, float)
    order = np.argsort(neg_scores, kind="stable")
    ns = neg_scores[order]
    lo = np.searchsorted(ns, pos_scores, side="left")
    hi = np.searchsorted(ns, pos_scores, side="right")
    B = w_pos.shape[0]
    out = np.empty(B)
    for s in range(0, B, chunk):
        wn = np.asarray(w_neg[s:s + chunk][:, order], float)
        C = np.zeros((wn.shape[0], wn.shape[1] + 1))
        np.cumsum(wn, axis=1, out=C[:, 1:])
        # below + 1/2 * tied  ==  (C[lo] + C[hi]) / 2
        plc = 0.5 * (C[:, lo] + C[:, hi])
        wp = np.asarray(w_pos[s:s + chunk], float)
        # A resample without positives or negatives (possible when clusters are drawn) -> NaN.
        with np.errstate(divide="ignore", invalid="ignore"):
            out[s:s + chunk] = (wp * plc).sum(axis=1) / (wp.sum(axis=1) * wn.sum(axis=1))
    return out


def resample_counts(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """(n_boot, n) counts of how often each of n cases is drawn in n draws with replacement."""
    idx = rng.integers(0, n, size=(n_boot, n))
    flat = (idx + (np.arange(n_boot) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n)


def bootstrap_auc_ci(truth, score, n_boot: int = 2000, seed: int = 0, conf_level: float = 0.95,
                     direction: str = "<") -> AUCResult:
    """AUC with a stratified percentile bootstrap CI (pROC ``ci.auc(method="bootstrap")``).

    Positives and negatives are resampled separately, each to its own size (pROC's
    ``stratified=TRUE``); the bounds are type-7 quantiles of the ``n_boot`` AUCs.  Same
    ``seed`` -> same interval.  Not comparable to R draw-for-draw (different RNG).
    """
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2, got {n_boot}")
    pos, neg = _split(truth, score, direction)
    rng = np.random.default_rng(seed)
    wp = resample_counts(rng, len(pos), n_boot)
    wn = resample_counts(rng, len(neg), n_boot)
    boots = weighted_auc_batch(pos, neg, wp, wn)
    a = auc(truth, score, direction)
    alpha = 1 - conf_level
    lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
    return AUCResult(a, float(lo), float(hi), "bootstrap", len(pos), len(neg), float(boots.std(ddof=1)))


def group_codes(groups, n: int | None = None) -> np.ndarray:
    """Integer codes 0..G-1 of a group (patient) vector, in order of first appearance.

    Raises ValueError when the length differs from ``n`` or a group is missing (NaN/None).
    """
    g = np.asarray(groups, dtype=object)
    if g.ndim != 1:
        raise ValueError(f"groups: expected a 1-D vector, got shape {g.shape}")
    if n is not None and len(g) != n:
        raise ValueError(f"groups has {len(g)} entries, the data {n} rows")
    miss = [i for i, v in enumerate(g) if v is None or (isinstance(v, float) and np.isnan(v))]
    if miss:
        raise ValueError(f"groups: {len(miss)} missing value(s) (first at row {miss[0]})")
    _, first, inv = np.unique(g.astype(str), return_index=True, return_inverse=True)
    # Relabel by first appearance so the codes (and hence the draws) do not depend on sorting.
    rank = np.empty(len(first), dtype=int)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inv.ravel()]


def has_repeats(groups) -> bool:
    """True when some group holds more than one row (so rows are not independent)."""
    if groups is None:
        return False
    c = group_codes(groups)
    return len(c) > 0 and np.bincount(c).max() > 1


def cluster_counts(rng: np.random.Generator, codes: np.ndarray, n_boot: int) -> np.ndarray:
    """(n_boot, n) row weights of a cluster bootstrap: G groups drawn with replacement, each
    row weighted by how often its group was drawn (every row of a drawn group comes along)."""
    G = int(codes.max()) + 1
    return resample_counts(rng, G, n_boot)[:, codes]


def ci_shortfall(n_pos: int, n_neg: int, n_groups: int | None = None) -> str:
    """Why a CI would rest on too few cases ('' when it does not): fewer than MIN_CI_POS
    positives, MIN_CI_NEG negatives or MIN_CI_GROUPS groups (when groups are resampled)."""
    why = []
    if n_pos < MIN_CI_POS:
        why.append(f"{n_pos} positive(s) < {MIN_CI_POS}")
    if n_neg < MIN_CI_NEG:
        why.append(f"{n_neg} negative(s) < {MIN_CI_NEG}")
    if n_groups is not None and n_groups < MIN_CI_GROUPS:
        why.append(f"{n_groups} patient(s) < {MIN_CI_GROUPS}")
    return ("no CI: " + ", ".join(why)) if why else ""


def cluster_bootstrap_auc_ci(truth, score, groups, n_boot: int = 2000, seed: int = 0,
                             conf_level: float = 0.95, direction: str = "<") -> AUCResult:
    """AUC with a cluster (patient-level) percentile bootstrap CI.

    Groups (patients) are drawn with replacement, as many as there are; every row of a
    drawn group comes along, so rows of one patient stay together and their correlation is
    kept in the interval. Not stratified by class: a resample may lack positives or
    negatives, and such resamples are left out of the quantiles (``se`` is over the rest).
    Without repeated groups this is the unstratified row bootstrap. Bounds are type-7
    quantiles. Same ``seed`` -> same interval.
    """
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2, got {n_boot}")
    pos, neg = _split(truth, score, direction)
    y = np.asarray(truth).astype(int)
    s = np.asarray(score, float)
    if direction == ">":
        s = -s
    codes = group_codes(groups, len(y))
    rng = np.random.default_rng(seed)
    W = cluster_counts(rng, codes, n_boot)
    boots = weighted_auc_batch(s[y == 1], s[y == 0], W[:, y == 1], W[:, y == 0])
    boots = boots[np.isfinite(boots)]
    a = auc(truth, score, direction)
    if len(boots) < 2:
        return AUCResult(a, float("nan"), float("nan"), "cluster bootstrap", len(pos), len(neg), float("nan"))
    alpha = 1 - conf_level
    lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
    return AUCResult(a, float(lo), float(hi), "cluster bootstrap", len(pos), len(neg), float(boots.std(ddof=1)))
