"""Metrics of every study's predictions: binary, multi-class one-vs-rest (macro and micro) and
multi-label one-vs-all, each AUC with a CI from vfrepro.stats (checked against R's pROC).

Result layout (as :func:`vfrepro.stats.multiclass_table`): ``{"per_class": {class: {metric:
{"value", "ci_low", "ci_high"}}}, "overall": {"accuracy" | "macro_auc" | "micro_auc": {...}},
"n_per_class": [...], "absent": [classes without cases], "note": str}``.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix

from ..stats.multiclass import METRICS, multiclass_table, ovr_confusion_metrics
from ..stats.roc import bootstrap_auc_ci, delong_ci

__all__ = ["CI_METHODS", "METRICS", "auc_ci", "binary", "one_vs_rest", "one_vs_all"]

CI_METHODS = ("bootstrap", "delong")
_NAN = {"value": np.nan, "ci_low": np.nan, "ci_high": np.nan}


def auc_ci(truth01, score, ci: str = "delong", n_boot: int = 1000, seed: int = 0) -> dict:
    """AUC of one binary problem with a DeLong or stratified-bootstrap 95% CI; NaN when the
    truth has no positives or no negatives (the AUC is undefined)."""
    y = np.asarray(truth01).astype(int)
    if not 0 < y.sum() < len(y):
        return dict(_NAN)
    if ci == "delong":
        r = delong_ci(y, np.asarray(score, float))
    elif ci == "bootstrap":
        r = bootstrap_auc_ci(y, np.asarray(score, float), n_boot=max(n_boot, 2), seed=seed)
    else:
        raise ValueError(f"ci must be one of {CI_METHODS}, not {ci!r}")
    return {"value": r.auc, "ci_low": r.ci_low, "ci_high": r.ci_high}


def binary(truth01, score, pred01) -> dict:
    """Confusion counts, accuracy, sensitivity, specificity and AUC with DeLong 95% CI."""
    y, yhat = np.asarray(truth01).astype(int), np.asarray(pred01).astype(int)
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y, yhat, labels=[0, 1]).ravel())
    n = len(y)
    r = auc_ci(y, score, "delong")
    return {"n": n, "TN": tn, "FP": fp, "FN": fn, "TP": tp, "accuracy": (tp + tn) / n,
            "sensitivity": tp / (tp + fn) if tp + fn else float("nan"),
            "specificity": tn / (tn + fp) if tn + fp else float("nan"),
            "auc": r["value"], "auc_ci_low": r["ci_low"], "auc_ci_high": r["ci_high"]}


def one_vs_rest(y, P, classes, ci: str = "bootstrap", n_boot: int = 1000, seed: int = 0) -> dict:
    """One-vs-rest metrics of a K-class classifier on class indices ``y`` and scores ``P`` (n, K).

    Every class present: :func:`vfrepro.stats.multiclass_table` (stratified bootstrap CIs of
    every metric, ``n_boot`` 0 = none). A class without cases (a split lacking it): its AUC
    and sensitivity are undefined (NaN), the other classes' AUCs get a ``ci`` CI ("bootstrap"
    or "delong"), the confusion metrics have no CI, macro AUC is the mean over the classes
    with an AUC and micro AUC is NaN; ``absent`` lists those classes and ``note`` says so.
    """
    y = np.asarray(y, int)
    P = np.asarray(P, float)
    K = len(classes)
    counts = np.bincount(y, minlength=K)
    names = [str(c) for c in classes]
    if (counts > 0).all():
        out = multiclass_table(y, P, classes=list(classes), n_boot=n_boot, seed=seed)
        return {**out, "absent": [], "note": ""}
    q = P.argmax(axis=1)
    conf = ovr_confusion_metrics(y, q, K)
    per = {}
    for k, c in enumerate(names):
        d = {m: {"value": float(conf[m][k]), "ci_low": np.nan, "ci_high": np.nan} for m in conf}
        d["auc"] = auc_ci((y == k).astype(int), P[:, k], ci, n_boot, seed)
        per[c] = d
    aucs = [per[c]["auc"]["value"] for c in names if np.isfinite(per[c]["auc"]["value"])]
    absent = [c for k, c in enumerate(names) if counts[k] == 0]
    as_given = [c for k, c in enumerate(classes) if counts[k] == 0]
    overall = {"accuracy": {"value": float((q == y).mean()), "ci_low": np.nan, "ci_high": np.nan},
               "macro_auc": {"value": float(np.mean(aucs)) if aucs else np.nan, "ci_low": np.nan, "ci_high": np.nan},
               "micro_auc": dict(_NAN)}
    return {"classes": names, "n": int(len(y)), "n_per_class": counts.tolist(), "per_class": per,
            "overall": overall, "absent": absent,
            "note": f"class(es) {as_given} absent: macro over present classes, no CIs"}


def one_vs_all(Y, P, labels, ci: str = "delong", n_boot: int = 1000, seed: int = 0) -> dict:
    """Multi-label one-vs-all: per label (0/1 column of ``Y``, score column of ``P``) the
    binary metrics at threshold 0.5 and its AUC with a ``ci`` CI; macro AUC over the labels
    with an AUC, micro AUC over every (case, label) cell. A label without positives (or
    negatives) has NaN AUC and is named in ``absent``."""
    Y = np.asarray(Y, int)
    P = np.asarray(P, float)
    per, absent = {}, []
    for j, lab in enumerate(str(v) for v in labels):
        yj, qj = Y[:, j], (P[:, j] >= 0.5).astype(int)
        conf = ovr_confusion_metrics(yj, qj, 2)
        per[lab] = {m: {"value": float(conf[m][1]), "ci_low": np.nan, "ci_high": np.nan} for m in conf}
        per[lab]["auc"] = auc_ci(yj, P[:, j], ci, n_boot, seed)
        if not np.isfinite(per[lab]["auc"]["value"]):
            absent.append(lab)
    aucs = [d["auc"]["value"] for d in per.values() if np.isfinite(d["auc"]["value"])]
    overall = {"macro_auc": {"value": float(np.mean(aucs)) if aucs else np.nan, "ci_low": np.nan, "ci_high": np.nan},
               "micro_auc": auc_ci(Y.ravel(), P.ravel(), ci, n_boot, seed),
               "exact_match": {"value": float(((P >= 0.5).astype(int) == Y).all(axis=1).mean()),
                               "ci_low": np.nan, "ci_high": np.nan}}
    return {"labels": [str(v) for v in labels], "n": int(len(Y)), "n_positive": Y.sum(axis=0).tolist(),
            "per_class": per, "overall": overall, "absent": absent,
            "note": f"label(s) {absent} without positives or negatives: no AUC" if absent else ""}
