"""One-vs-rest metrics of a K-class classifier, each with a stratified bootstrap CI.

Per class (that class positive, all others negative): AUC, accuracy, sensitivity,
specificity, PPV, NPV, F1.  Overall: accuracy, macro AUC (mean of the per-class AUCs, as
sklearn ``roc_auc_score(average="macro", multi_class="ovr")``) and micro AUC (one ROC over
all n x K (case, class) pairs, as sklearn ``average="micro"`` on the one-hot truth).

Bootstrap: resample cases with replacement within each true class (class sizes fixed), a
percentile CI over ``n_boot`` resamples.  Nothing is refitted or re-sorted per resample:
each resample is a vector of case counts, confusion tables are count-weighted sums and
AUCs come from :func:`vfrepro.stats.roc.weighted_auc_batch`, so the whole table costs
O(n_boot * n * K).  A metric undefined in a resample (e.g. PPV with no predicted
positives) is left out of that metric's quantiles.

With ``groups`` (e.g. patient ids) in which some group has several rows, the bootstrap is
a cluster bootstrap instead: groups are drawn with replacement and every row of a drawn
group comes along, for every metric. It is not class-stratified (a patient's rows may
belong to different classes), so class sizes vary between resamples.
"""

from __future__ import annotations

import numpy as np

from .roc import cluster_counts, group_codes, weighted_auc_batch

__all__ = ["METRICS", "encode_labels", "multiclass_table", "ovr_confusion_metrics"]

METRICS = ("auc", "accuracy", "sensitivity", "specificity", "ppv", "npv", "f1")
_CHUNK = 100  # replicates per block: bounds memory at n = 1e5 without changing results


def encode_labels(labels, classes, name: str = "truth") -> np.ndarray:
    """Map labels to class indices 0..K-1 in the order of ``classes``.

    Labels may equal the class names, or be the integers 0..K-1 (compared as strings, so a
    CSV's ``"1"`` and ``1`` both work).  Raises ValueError naming ``name`` and the bad labels.
    """
    lab = np.asarray(labels).astype(str)
    cls = [str(c) for c in classes]
    if set(lab) <= set(cls):
        return _index(lab, cls)
    as_int = [str(i) for i in range(len(cls))]
    if set(lab) <= set(as_int):
        return lab.astype(float).astype(int)
    bad = sorted(set(lab.tolist()) - set(cls))[:5]
    raise ValueError(f"{name}: label(s) {bad} match neither the class names {cls} nor 0..{len(cls) - 1}")


def _index(lab: np.ndarray, cls: list[str]) -> np.ndarray:
    lookup = {c: i for i, c in enumerate(cls)}
    return np.fromiter((lookup[v] for v in lab), dtype=int, count=len(lab))


def _confusion_metrics(W, Y, Q):
    """W (B, n) case weights; Y, Q (n, K) one-hot truth / prediction -> dict of (B, K) + (B,)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        tp = W @ (Y * Q)
        pp = W @ Q
        ap = W @ Y
        N = W.sum(axis=1, keepdims=True)
        fp, fn = pp - tp, ap - tp
        tn = N - tp - fp - fn
        out = {
            "accuracy": (tp + tn) / N,
            "sensitivity": tp / (tp + fn),
            "specificity": tn / (tn + fp),
            "ppv": tp / (tp + fp),
            "npv": tn / (tn + fn),
            "f1": 2 * tp / (2 * tp + fp + fn),
        }
        overall = tp.sum(axis=1) / N[:, 0]
    return out, overall


def ovr_confusion_metrics(y, q, K: int) -> dict:
    """One-vs-rest accuracy, sensitivity, specificity, PPV, NPV, F1 per class (K,) from class
    indices ``y`` (truth) and ``q`` (prediction), NaN where a denominator is 0; no CIs."""
    Y, Q = np.eye(K)[np.asarray(y, int)], np.eye(K)[np.asarray(q, int)]
    per, _ = _confusion_metrics(np.ones((1, len(Y))), Y, Q)
    return {m: v[0] for m, v in per.items()}


def _all_metrics(W, y, P, Y, Q):
    """Every metric for a block of weight vectors W (B, n): per-class (B, K) and overall (B,)."""
    K = P.shape[1]
    per, overall = _confusion_metrics(W, Y, Q)
    aucs = np.empty((W.shape[0], K))
    for k in range(K):
        pos = y == k
        aucs[:, k] = weighted_auc_batch(P[pos, k], P[~pos, k], W[:, pos], W[:, ~pos])
    per["auc"] = aucs
    # Micro: every (case, class) cell is one observation carrying its case's weight.
    flat_s, flat_y = P.ravel(), Y.ravel().astype(bool)
    Wf = np.repeat(W, K, axis=1)
    micro = weighted_auc_batch(flat_s[flat_y], flat_s[~flat_y], Wf[:, flat_y], Wf[:, ~flat_y])
    return per, {"accuracy": overall, "macro_auc": aucs.mean(axis=1), "micro_auc": micro}


def check_scores(truth, P: np.ndarray, classes) -> np.ndarray:
    """Class indices of ``truth`` after checking the (n, K) score matrix ``P`` against it:
    finite scores, one class name per column, one truth per row. ValueError otherwise."""
    n, K = P.shape
    if not np.isfinite(P).all():
        raise ValueError("probability columns contain missing or infinite values")
    if len(classes) != K:
        raise ValueError(f"{len(classes)} class names for {K} probability columns")
    y = encode_labels(truth, classes, "truth")
    if len(y) != n:
        raise ValueError(f"truth has {len(y)} rows, probs {n}")
    return y


def multiclass_table(truth, probs, classes=None, pred=None, n_boot: int = 1000, seed: int = 0,
                     conf_level: float = 0.95, groups=None) -> dict:
    """OvR metrics table with stratified percentile bootstrap CIs.

    Takes ``truth`` (n,) labels, ``probs`` (n, K) class scores in the order of ``classes``
    (default ``0..K-1``), optional ``pred`` (n,) predicted labels (default: argmax of probs,
    first class on ties), ``n_boot`` resamples (0 = no CIs), ``seed`` and optional ``groups``
    (n,) (cluster bootstrap when a group repeats; see the module note).
    Gives ``{"classes", "n", "n_boot", "seed", "per_class": {class: {metric: {"value",
    "ci_low", "ci_high"}}}, "overall": {"accuracy"|"macro_auc"|"micro_auc": {...}}}``.
    """
    P = np.asarray(probs, dtype=float)
    if P.ndim != 2 or P.shape[1] < 2:
        raise ValueError(f"probs must be an (n, K>=2) matrix, got shape {P.shape}")
    n, K = P.shape
    classes = list(range(K)) if classes is None else list(classes)
    y = check_scores(truth, P, classes)
    counts = np.bincount(y, minlength=K)
    if (counts == 0).any():
        missing = [str(classes[k]) for k in np.where(counts == 0)[0]]
        raise ValueError(f"class(es) {missing} have no cases in truth; OvR AUC is undefined")
    q = np.argmax(P, axis=1) if pred is None else encode_labels(pred, classes, "pred")
    Y = np.eye(K)[y]
    Q = np.eye(K)[q]

    codes = None if groups is None else group_codes(groups, n)
    cluster = codes is not None and np.bincount(codes).max() > 1
    method = ("cluster bootstrap (groups resampled with all their rows; not class-stratified)" if cluster
              else "stratified bootstrap (rows resampled within each true class)")

    per0, ov0 = _all_metrics(np.ones((1, n)), y, P, Y, Q)
    boots_per = {m: [] for m in METRICS}
    boots_ov = {m: [] for m in ov0}
    if n_boot:
        rng = np.random.default_rng(seed)
        members = [np.where(y == k)[0] for k in range(K)]
        # Draw everything first (fixed order), so results do not depend on _CHUNK.
        if cluster:
            Wall = cluster_counts(rng, codes, n_boot)
        else:
            draws = [rng.integers(0, len(mk), size=(n_boot, len(mk)), dtype=np.int32) for mk in members]
        for s in range(0, n_boot, _CHUNK):
            b = min(_CHUNK, n_boot - s)
            if cluster:
                W = Wall[s:s + b].astype(float)
            else:
                # Case counts per replicate: one bincount over (replicate, case) cells.
                cells = np.concatenate([mk[d[s:s + b]] for mk, d in zip(members, draws)], axis=1)
                cells = cells + (np.arange(b) * n)[:, None]
                W = np.bincount(cells.ravel(), minlength=b * n).reshape(b, n).astype(float)
            with np.errstate(divide="ignore", invalid="ignore"):
                per, ov = _all_metrics(W, y, P, Y, Q)
            for m in METRICS:
                boots_per[m].append(per[m])
            for m in ov:
                boots_ov[m].append(ov[m])
    alpha = 1 - conf_level

    def summary(value, sample):
        d = {"value": float(value)}
        if sample is not None:
            s = sample[np.isfinite(sample)]
            lo, hi = np.quantile(s, [alpha / 2, 1 - alpha / 2]) if len(s) else (np.nan, np.nan)
            d.update(ci_low=float(lo), ci_high=float(hi))
        return d

    per_class = {}
    for k, c in enumerate(classes):
        per_class[str(c)] = {m: summary(per0[m][0, k], np.concatenate(boots_per[m])[:, k] if n_boot else None)
                             for m in METRICS}
    overall = {m: summary(ov0[m][0], np.concatenate(boots_ov[m]) if n_boot else None) for m in ov0}
    return {"classes": [str(c) for c in classes], "n": int(n), "n_per_class": counts.tolist(),
            "n_groups": int(codes.max() + 1) if codes is not None else int(n),
            "method": method if n_boot else "none",
            "n_boot": int(n_boot), "seed": int(seed), "conf_level": float(conf_level),
            "per_class": per_class, "overall": overall}
