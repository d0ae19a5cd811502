"""Metrics of every study's predictions: binary, multi-class one-vs-rest (macro and micro) and
multi-label one-vs-all, each AUC with a CI from vfrepro.stats (checked against R's pROC), and
the paired bootstrap comparison of two models' macro AUC.

Result layout (as :func:`vfrepro.stats.multiclass_table`): ``{"per_class": {class: {metric:
{"value", "ci_low", "ci_high"}}}, "overall": {"accuracy" | "macro_auc" | "micro_auc": {...}},
"n_per_class": [...], "absent": [classes without cases], "note": str}``.

Unit of resampling: pass ``groups`` (patient ids) wherever a patient can contribute more
than one row (several vertebrae). When some group repeats, every CI is a cluster bootstrap
(patients drawn with replacement, all their rows along), whatever ``ci`` says: DeLong and
the row bootstrap treat a patient's vertebrae as independent, and their CIs are too narrow.

Minimum for a CI: fewer than ``MIN_CI_POS`` positives, ``MIN_CI_NEG`` negatives (counted as
patients when patients are resampled) or ``MIN_CI_GROUPS`` resampled units give a NaN CI
and a note, not an interval from two or three distinct values.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix

from ..stats.multiclass import METRICS, check_scores, multiclass_table, ovr_confusion_metrics
from ..stats.roc import (MIN_CI_GROUPS, MIN_CI_NEG, MIN_CI_POS, bootstrap_auc_ci, ci_shortfall,
                         cluster_bootstrap_auc_ci, group_codes, resample_counts, weighted_auc_batch,
                         delong_ci)

__all__ = ["CI_METHODS", "METRICS", "MIN_CI_GROUPS", "MIN_CI_NEG", "MIN_CI_POS", "auc_ci", "binary",
           "one_vs_rest", "one_vs_all", "paired_auc_diff", "paired_macro_auc"]

CI_METHODS = ("bootstrap", "delong")
_NAN = {"value": np.nan, "ci_low": np.nan, "ci_high": np.nan}
_METHOD = {"delong": "DeLong", "bootstrap": "bootstrap", "cluster": "cluster bootstrap"}


def _codes(groups, n):
    """Group codes, or None when there are no groups or no group repeats (rows independent)."""
    if groups is None:
        return None
    c = group_codes(groups, n)
    return c if n and np.bincount(c).max() > 1 else None


def _shortfall(y01, codes) -> str:
    """ci_shortfall counted in the resampled unit: rows, or patients when patients are drawn."""
    y01 = np.asarray(y01).astype(bool)
    if codes is None:
        return ci_shortfall(int(y01.sum()), int((~y01).sum()))
    return ci_shortfall(len(np.unique(codes[y01])), len(np.unique(codes[~y01])), len(np.unique(codes)))


def auc_ci(truth01, score, ci: str = "delong", n_boot: int = 1000, seed: int = 0, groups=None) -> dict:
    """AUC of one binary problem with a 95% CI: DeLong or stratified bootstrap (``ci``), or the
    cluster bootstrap whenever ``groups`` has a group with several rows. Gives ``value,
    ci_low, ci_high, method, note``; NaN AUC when the truth has no positives or no
    negatives, NaN CI (with the reason in ``note``) below the module's minimum counts."""
    if ci not in CI_METHODS:
        raise ValueError(f"ci must be one of {CI_METHODS}, not {ci!r}")
    y = np.asarray(truth01).astype(int)
    codes = _codes(groups, len(y))
    method = _METHOD["cluster" if codes is not None else ci]
    if not 0 < y.sum() < len(y):
        return {**_NAN, "method": method, "note": "no positives or no negatives: AUC undefined"}
    s = np.asarray(score, float)
    if codes is not None:
        r = cluster_bootstrap_auc_ci(y, s, codes, n_boot=max(n_boot, 2), seed=seed)
    elif ci == "delong":
        r = delong_ci(y, s)
    else:
        r = bootstrap_auc_ci(y, s, n_boot=max(n_boot, 2), seed=seed)
    short = _shortfall(y, codes)
    if short:
        return {"value": r.auc, "ci_low": np.nan, "ci_high": np.nan, "method": method, "note": short}
    return {"value": r.auc, "ci_low": r.ci_low, "ci_high": r.ci_high, "method": method, "note": ""}


def binary(truth01, score, pred01, groups=None, n_boot: int = 1000, seed: int = 0) -> dict:
    """Confusion counts, accuracy, sensitivity, specificity and AUC with a 95% CI: DeLong, or
    the cluster bootstrap when ``groups`` repeat (``auc_ci_method`` says which)."""
    y, yhat = np.asarray(truth01).astype(int), np.asarray(pred01).astype(int)
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y, yhat, labels=[0, 1]).ravel())
    n = len(y)
    r = auc_ci(y, score, "delong", n_boot=n_boot, seed=seed, groups=groups)
    return {"n": n, "TN": tn, "FP": fp, "FN": fn, "TP": tp, "accuracy": (tp + tn) / n,
            "sensitivity": tp / (tp + fn) if tp + fn else float("nan"),
            "specificity": tn / (tn + fp) if tn + fp else float("nan"),
            "auc": r["value"], "auc_ci_low": r["ci_low"], "auc_ci_high": r["ci_high"],
            "auc_ci_method": r["method"], "auc_ci_note": r["note"]}


def _suppress_small(out: dict, y, codes, names) -> list[str]:
    """NaN the CIs of a class (every one-vs-rest metric) below the minimum counts, and the
    overall CIs below MIN_CI_GROUPS units; gives the notes."""
    notes = []
    for k, c in enumerate(names):
        short = _shortfall(y == k, codes)
        if short and (y == k).any():
            for v in out["per_class"][c].values():
                if "ci_low" in v:
                    v["ci_low"] = v["ci_high"] = np.nan
            notes.append(f"class {c}: {short}")
    units = len(y) if codes is None else len(np.unique(codes))
    if units < MIN_CI_GROUPS:
        for v in out["overall"].values():
            v["ci_low"] = v["ci_high"] = np.nan
        notes.append(f"overall: no CI, {units} unit(s) < {MIN_CI_GROUPS}")
    return notes


def one_vs_rest(y, P, classes, ci: str = "bootstrap", n_boot: int = 1000, seed: int = 0, groups=None) -> dict:
    """One-vs-rest metrics of a K-class classifier on class indices ``y`` and scores ``P`` (n, K).

    Every class present: :func:`vfrepro.stats.multiclass_table` (bootstrap CIs of every
    metric, ``n_boot`` 0 = none): stratified by class, or, when ``groups`` repeat, a cluster
    bootstrap of patients for every metric (not class-stratified; ``method`` says which).
    A class without cases (a split lacking it): its AUC and sensitivity are undefined (NaN),
    the other classes' AUCs get a ``ci`` CI ("bootstrap" or "delong"; cluster bootstrap when
    groups repeat), the confusion metrics have no CI, macro AUC is the mean over the classes
    with an AUC and micro AUC is NaN; ``absent`` lists those classes and ``note`` says so.
    CIs below the minimum counts (module note) are NaN and named in ``note``.
    """
    if ci not in CI_METHODS:
        raise ValueError(f"ci must be one of {CI_METHODS}, not {ci!r}")
    y = np.asarray(y, int)
    P = np.asarray(P, float)
    K = len(classes)
    counts = np.bincount(y, minlength=K)
    names = [str(c) for c in classes]
    codes = _codes(groups, len(y))
    n_groups = int(len(np.unique(codes))) if codes is not None else int(len(y))
    if (counts > 0).all():
        out = multiclass_table(y, P, classes=list(classes), n_boot=n_boot, seed=seed, groups=codes)
        notes = _suppress_small(out, y, codes, names) if n_boot else []
        return {**out, "n_groups": n_groups, "absent": [], "note": "; ".join(notes)}
    q = P.argmax(axis=1)
    conf = ovr_confusion_metrics(y, q, K)
    per = {}
    for k, c in enumerate(names):
        d = {m: {"value": float(conf[m][k]), "ci_low": np.nan, "ci_high": np.nan} for m in conf}
        a = auc_ci((y == k).astype(int), P[:, k], ci, n_boot, seed, groups=codes)
        d["auc"] = {key: a[key] for key in ("value", "ci_low", "ci_high")}
        per[c] = d
    aucs = [per[c]["auc"]["value"] for c in names if np.isfinite(per[c]["auc"]["value"])]
    absent = [c for k, c in enumerate(names) if counts[k] == 0]
    as_given = [c for k, c in enumerate(classes) if counts[k] == 0]
    overall = {"accuracy": {"value": float((q == y).mean()), "ci_low": np.nan, "ci_high": np.nan},
               "macro_auc": {"value": float(np.mean(aucs)) if aucs else np.nan, "ci_low": np.nan, "ci_high": np.nan},
               "micro_auc": dict(_NAN)}
    notes = [f"class(es) {as_given} absent: macro over present classes, no CIs"]
    notes += [f"class {c}: {_shortfall(y == k, codes)}" for k, c in enumerate(names)
              if counts[k] and _shortfall(y == k, codes)]
    return {"classes": names, "n": int(len(y)), "n_per_class": counts.tolist(), "n_groups": n_groups,
            "method": _METHOD["cluster" if codes is not None else ci] + " (AUC only)",
            "per_class": per, "overall": overall, "absent": absent, "note": "; ".join(notes)}


def one_vs_all(Y, P, labels, ci: str = "delong", n_boot: int = 1000, seed: int = 0, groups=None) -> dict:
    """Multi-label one-vs-all: per label (0/1 column of ``Y``, score column of ``P``) the
    binary metrics at threshold 0.5 and its AUC with a ``ci`` CI (cluster bootstrap when
    ``groups`` repeat); macro AUC over the labels with an AUC, micro AUC over every (case,
    label) cell (its CI resamples cases, or patients, with all their cells). A label without
    positives (or negatives) has NaN AUC and is named in ``absent``."""
    Y = np.asarray(Y, int)
    P = np.asarray(P, float)
    codes = _codes(groups, len(Y))
    per, absent, notes = {}, [], []
    for j, lab in enumerate(str(v) for v in labels):
        yj, qj = Y[:, j], (P[:, j] >= 0.5).astype(int)
        conf = ovr_confusion_metrics(yj, qj, 2)
        per[lab] = {m: {"value": float(conf[m][1]), "ci_low": np.nan, "ci_high": np.nan} for m in conf}
        a = auc_ci(yj, P[:, j], ci, n_boot, seed, groups=codes)
        per[lab]["auc"] = {key: a[key] for key in ("value", "ci_low", "ci_high")}
        if not np.isfinite(a["value"]):
            absent.append(lab)
        elif a["note"]:
            notes.append(f"{lab}: {a['note']}")
    aucs = [d["auc"]["value"] for d in per.values() if np.isfinite(d["auc"]["value"])]
    K = Y.shape[1]
    # The cells of one case (and of one patient) are correlated: resample them together.
    cell_groups = np.repeat(codes if codes is not None else np.arange(len(Y)), K)
    micro = auc_ci(Y.ravel(), P.ravel(), ci, n_boot, seed, groups=cell_groups if K > 1 else codes)
    overall = {"macro_auc": {"value": float(np.mean(aucs)) if aucs else np.nan, "ci_low": np.nan, "ci_high": np.nan},
               "micro_auc": {key: micro[key] for key in ("value", "ci_low", "ci_high")},
               "exact_match": {"value": float(((P >= 0.5).astype(int) == Y).all(axis=1).mean()),
                               "ci_low": np.nan, "ci_high": np.nan}}
    if absent:
        notes.insert(0, f"label(s) {absent} without positives or negatives: no AUC")
    return {"labels": [str(v) for v in labels], "n": int(len(Y)), "n_positive": Y.sum(axis=0).tolist(),
            "method": _METHOD["cluster" if codes is not None else ci] + " (AUC); micro: " + micro["method"],
            "per_class": per, "overall": overall, "absent": absent, "note": "; ".join(notes)}


def _macro_auc_weighted(y, P, W):
    """Macro one-vs-rest AUC for each row of case weights W (B, n); NaN where a class lacks
    positives or negatives in a resample."""
    K = P.shape[1]
    aucs = np.empty((W.shape[0], K))
    for k in range(K):
        pos = y == k
        aucs[:, k] = weighted_auc_batch(P[pos, k], P[~pos, k], W[:, pos], W[:, ~pos])
    return aucs.mean(axis=1)


def _boot_p(d) -> float:
    """Two-sided bootstrap p of 'difference = 0': twice the smaller tail share of the resampled
    differences at or beyond 0, ``2 * min(#{d* <= 0} + 1, #{d* >= 0} + 1) / (B + 1)``, capped
    at 1 (floor 2 / (B + 1); identical models give 1)."""
    B = len(d)
    return float(min(1.0, 2 * min((d <= 0).sum() + 1, (d >= 0).sum() + 1) / (B + 1)))


def _unit_weights(rng, codes, n, n_boot):
    return (resample_counts(rng, int(codes.max()) + 1, n_boot)[:, codes] if codes is not None
            else resample_counts(rng, n, n_boot)).astype(float)


def paired_auc_diff(truth01, score_a, score_b, groups=None, n_boot: int = 2000, seed: int = 0,
                    conf_level: float = 0.95) -> dict:
    """Paired bootstrap of AUC(a) - AUC(b) of one binary problem on the same cases: the same
    draw for both scores, patients with all their rows when ``groups`` repeat, else rows
    (not stratified). Percentile CI; p as :func:`paired_macro_auc`. Below the minimum
    counts (module note) CI and p are NaN with a note. Gives ``auc_a, auc_b, diff, ci_low,
    ci_high, p, n, n_groups, n_boot, method, note``."""
    y = np.asarray(truth01).astype(int)
    sa, sb = np.asarray(score_a, float), np.asarray(score_b, float)
    if not (y.shape == sa.shape == sb.shape) or y.ndim != 1:
        raise ValueError(f"truth and scores must be 1-D of equal length (got {y.shape}, {sa.shape}, {sb.shape})")
    codes = _codes(groups, len(y))
    n_groups = int(len(np.unique(codes))) if codes is not None else int(len(y))
    method = ("paired cluster bootstrap (patients resampled with all their rows)" if codes is not None
              else "paired bootstrap (rows resampled, not stratified)")
    out = {"auc_a": np.nan, "auc_b": np.nan, "diff": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan,
           "n": int(len(y)), "n_groups": n_groups, "n_boot": 0, "method": method, "note": ""}
    if not 0 < y.sum() < len(y):
        out["note"] = "no positives or no negatives: AUC undefined"
        return out
    one = np.ones((1, len(y)))
    pos = y == 1
    a = float(weighted_auc_batch(sa[pos], sa[~pos], one[:, pos], one[:, ~pos])[0])
    b = float(weighted_auc_batch(sb[pos], sb[~pos], one[:, pos], one[:, ~pos])[0])
    out.update(auc_a=a, auc_b=b, diff=a - b)
    short = _shortfall(y, codes)
    if short:
        out["note"] = short
        return out
    W = _unit_weights(np.random.default_rng(seed), codes, len(y), n_boot)
    d = (weighted_auc_batch(sa[pos], sa[~pos], W[:, pos], W[:, ~pos])
         - weighted_auc_batch(sb[pos], sb[~pos], W[:, pos], W[:, ~pos]))
    d = d[np.isfinite(d)]
    if len(d) < 2:
        out["note"] = "fewer than 2 usable resamples"
        return out
    alpha = 1 - conf_level
    lo, hi = np.quantile(d, [alpha / 2, 1 - alpha / 2])
    out.update(ci_low=float(lo), ci_high=float(hi), p=_boot_p(d), n_boot=int(len(d)),
               note=(f"{n_boot - len(d)} resample(s) without both classes dropped" if len(d) < n_boot else ""))
    return out


def paired_macro_auc(y, PA, PB, classes, groups=None, n_boot: int = 2000, seed: int = 0,
                     conf_level: float = 0.95) -> dict:
    """Paired bootstrap of the difference in macro one-vs-rest AUC, model A minus model B, on
    the same cases (rows of ``PA`` and ``PB`` aligned with ``y``).

    Each resample draws units with replacement, the same draw for both models: patients with
    all their rows when ``groups`` repeat, else rows (not stratified by class). Resamples in
    which a class has no positives or no negatives are dropped (``n_boot`` counts the kept
    ones). CI: percentile interval of the resampled differences. p (two-sided): twice the
    smaller tail share of resampled differences at or beyond 0, ``2 * min(#{d* <= 0} + 1,
    #{d* >= 0} + 1) / (B + 1)`` capped at 1, so the floor is ``2 / (B + 1)`` and identical
    models give p = 1. Below MIN_CI_GROUPS units the CI and p are NaN (``note``).
    Gives ``macro_auc_a, macro_auc_b, diff, ci_low, ci_high, p, n, n_groups, n_boot, method, note``.
    """
    PA, PB = np.asarray(PA, float), np.asarray(PB, float)
    if PA.ndim != 2 or PA.shape != PB.shape:
        raise ValueError(f"PA and PB must be (n, K) matrices of equal shape (got {PA.shape}, {PB.shape})")
    n, K = PA.shape
    yi = check_scores(y, PA, classes)
    check_scores(y, PB, classes)
    counts = np.bincount(yi, minlength=K)
    codes = _codes(groups, n)
    n_groups = int(len(np.unique(codes))) if codes is not None else int(n)
    method = ("paired cluster bootstrap (patients resampled with all their rows)" if codes is not None
              else "paired bootstrap (rows resampled, not stratified)")
    out = {"macro_auc_a": np.nan, "macro_auc_b": np.nan, "diff": np.nan, "ci_low": np.nan, "ci_high": np.nan,
           "p": np.nan, "n": int(n), "n_groups": n_groups, "n_boot": 0, "method": method, "note": ""}
    if (counts == 0).any() or (counts == n).any():
        out["note"] = "a class has no cases: macro AUC undefined"
        return out
    one = np.ones((1, n))
    a, b = float(_macro_auc_weighted(yi, PA, one)[0]), float(_macro_auc_weighted(yi, PB, one)[0])
    out.update(macro_auc_a=a, macro_auc_b=b, diff=a - b)
    if n_groups < MIN_CI_GROUPS:
        out["note"] = f"no CI or p: {n_groups} unit(s) < {MIN_CI_GROUPS}"
        return out
    W = _unit_weights(np.random.default_rng(seed), codes, n, n_boot)
    d = _macro_auc_weighted(yi, PA, W) - _macro_auc_weighted(yi, PB, W)
    d = d[np.isfinite(d)]
    B = len(d)
    if B < 2:
        out["note"] = "fewer than 2 usable resamples"
        return out
    alpha = 1 - conf_level
    lo, hi = np.quantile(d, [alpha / 2, 1 - alpha / 2])
    out.update(ci_low=float(lo), ci_high=float(hi), p=_boot_p(d), n_boot=int(B),
               note=(f"{n_boot - B} resample(s) without every class dropped" if B < n_boot else ""))
    return out
