"""Metrics qu2025_mil reports (S, Z, ensemble): accuracy with a 95% CI, per-class accuracy,
precision / recall / F1 per class and macro, confusion matrix; and, beyond the paper, the
instance-level AUC of attention weights (or instance-head scores) against the planted labels.

All computations are sklearn / statsmodels / vfrepro.stats.roc; nothing is hand-written.
Labels are the paper's indices 0..5 (A0..AZ); `labels` fixes the rows/columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support
from statsmodels.stats.proportion import proportion_confint

from vfrepro.stats.roc import bootstrap_auc_ci, delong_ci

from . import labels as L

__all__ = ["CHOSEN", "accuracy_ci", "per_class_table", "confusion", "instance_auc",
           "classification_summary"]

CHOSEN: list[tuple[str, str, str]] = [
    ("accuracy_ci", "Wilson score interval (statsmodels proportion_confint, method='wilson')",
     "the paper gives 95% CIs without a method; Wilson behaves at small n and near 0 / 1"),
    ("per_class_accuracy", "recall of the class (correct / true members), sklearn",
     "the paper's Fig 4 class-specific accuracy read off its confusion matrices"),
    ("instance_auc_ci", "DeLong (vfrepro.stats.roc.delong_ci) on instances pooled over fractured "
     "bags; bootstrap available", "slices of a bag are correlated, so the CI is optimistic; stated"),
]


def accuracy_ci(y_true, y_pred, conf_level: float = 0.95, method: str = "wilson") -> dict:
    """{'accuracy', 'ci_low', 'ci_high', 'n', 'correct', 'method'} (statsmodels proportion_confint)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"need equal, non-empty y_true / y_pred, got {y_true.shape} / {y_pred.shape}")
    n = int(y_true.size)
    k = int(round(accuracy_score(y_true, y_pred, normalize=False)))
    lo, hi = proportion_confint(k, n, alpha=1 - conf_level, method=method)
    lo, hi = min(max(float(lo), 0.0), k / n), max(min(float(hi), 1.0), k / n)   # float round-off at 0 / n
    return {"accuracy": k / n, "ci_low": float(lo), "ci_high": float(hi), "n": n, "correct": k,
            "method": method}


def per_class_table(y_true, y_pred, labels: Sequence[int] | None = None) -> pd.DataFrame:
    """One row per class and a 'macro' row: class, name, support, accuracy (= recall),
    precision, recall, f1 (sklearn, zero_division=0)."""
    labels = list(range(len(L.AO_CLASSES))) if labels is None else list(labels)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    df = pd.DataFrame({"class": labels, "name": [L.class_name(c) for c in labels], "support": s,
                       "accuracy": r, "precision": p, "recall": r, "f1": f})
    present = [c for c, n in zip(labels, s) if n > 0]
    mp, mr, mf, _ = precision_recall_fscore_support(y_true, y_pred, labels=present or labels,
                                                     average="macro", zero_division=0)
    macro = {"class": "macro", "name": "macro (classes present)", "support": int(s.sum()),
             "accuracy": mr, "precision": mp, "recall": mr, "f1": mf}
    return pd.concat([df, pd.DataFrame([macro])], ignore_index=True)


def confusion(y_true, y_pred, labels: Sequence[int] | None = None) -> pd.DataFrame:
    """Confusion matrix (rows true, columns predicted), indexed by class names."""
    labels = list(range(len(L.AO_CLASSES))) if labels is None else list(labels)
    names = [L.class_name(c) for c in labels]
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    return pd.DataFrame(cm, index=pd.Index(names, name="true"), columns=pd.Index(names, name="pred"))


def classification_summary(y_true, y_pred, labels: Sequence[int] | None = None) -> dict:
    """accuracy_ci + per_class_table + confusion in one dict."""
    return {"accuracy": accuracy_ci(y_true, y_pred), "per_class": per_class_table(y_true, y_pred, labels),
            "confusion": confusion(y_true, y_pred, labels)}


def instance_auc(scores, instance_labels, method: str = "delong", fractured_only: bool = True,
                 conf_level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> dict | None:
    """AUC of per-slice scores (attention weights [B, N] or instance-head probabilities) against
    instance labels [B, N] (1 / 0, -1 unknown, dropped). fractured_only: only bags with at least
    one fracture slice (where 'which slice?' has an answer). None (with no error) when no
    positive or no negative slice remains. Returns AUCResult.as_dict() plus n_bags."""
    s, y = np.asarray(scores, float), np.asarray(instance_labels, int)
    if s.shape != y.shape:
        raise ValueError(f"scores {s.shape} and instance labels {y.shape} differ in shape")
    if s.ndim == 1:
        s, y = s[None], y[None]
    keep = np.ones(len(y), bool)
    if fractured_only:
        keep = (y == 1).any(axis=1)
    s, y = s[keep], y[keep]
    known = y >= 0
    ys, ss = y[known], s[known]
    if ys.size == 0 or ys.min() == ys.max():
        return None
    if method == "delong":
        res = delong_ci(ys, ss, conf_level=conf_level)
    elif method == "bootstrap":
        res = bootstrap_auc_ci(ys, ss, n_boot=n_boot, seed=seed, conf_level=conf_level)
    else:
        raise ValueError(f"method must be delong or bootstrap, got {method!r}")
    return {**res.as_dict(), "n_bags": int(keep.sum())}
