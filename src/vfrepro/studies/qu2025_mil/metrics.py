"""Metrics qu2025_mil reports (S, Z, ensemble): accuracy with a 95% CI (patients resampled when a
patient has several vertebrae, Wilson when not), per-class accuracy,
precision / recall / F1 per class and macro, confusion matrix; and, beyond the paper, the
instance-level AUC of attention weights (or instance-head scores) against the planted labels.

All computations are sklearn / statsmodels / vfrepro.stats / vfrepro.evaluate.metrics.
Labels are the paper's indices 0..5 (A0..AZ); `labels` fixes the rows/columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from . import labels as L

__all__ = ["CHOSEN", "accuracy_ci", "per_class_table", "confusion", "instance_auc",
           "classification_summary"]

CHOSEN: list[tuple[str, str, str]] = [
    ("accuracy_ci", "cluster bootstrap over patients (vfrepro.stats.cluster, evaluate.n_boot resamples, "
     "seed) when a patient has several validation vertebrae; Wilson score (statsmodels "
     "proportion_confint) when every patient has one, and beside it in wilson_ci_low/high",
     "the paper gives 95% CIs without a method; a patient's vertebrae are correlated, so a "
     "binomial interval over vertebrae is too narrow (issue 14 item 4)"),
    ("per_class_accuracy", "recall of the class (correct / true members), sklearn",
     "the paper's Fig 4 class-specific accuracy read off its confusion matrices"),
    ("instance_auc_ci", "cluster bootstrap (vfrepro.evaluate.metrics.auc_ci with groups) over "
     "patients, a patient's bags and a bag's slices resampled together, instances pooled over "
     "fractured bags", "slices of a bag (and bags of a patient) are correlated: DeLong on "
     "pooled slices would be too narrow"),
]


def accuracy_ci(y_true, y_pred, conf_level: float = 0.95, method: str = "wilson", groups=None,
                n_boot: int = 2000, seed: int = 0) -> dict:
    """{'accuracy', 'ci_low', 'ci_high', 'n', 'correct', 'n_patients', 'method',
    'wilson_ci_low', 'wilson_ci_high', 'note'}. With ``groups`` (the patient of each row)
    in which a patient repeats, the CI is the cluster bootstrap of patients
    (vfrepro.stats.cluster, ``n_boot``, ``seed``); otherwise the Wilson score interval
    (statsmodels proportion_confint), which is given beside it either way."""
    from vfrepro.stats.cluster import proportion_ci
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"need equal, non-empty y_true / y_pred, got {y_true.shape} / {y_pred.shape}")
    if method != "wilson":
        raise ValueError(f"method must be 'wilson' (the fallback when rows are patients), got {method!r}")
    n = int(y_true.size)
    ok = (y_true == y_pred).astype(int)
    k = int(round(accuracy_score(y_true, y_pred, normalize=False)))
    r = proportion_ci(ok, groups, n_boot=n_boot, seed=seed, conf_level=conf_level)
    cluster = r["method"].startswith("cluster")
    return {"accuracy": k / n, "ci_low": float(r["ci_low"]), "ci_high": float(r["ci_high"]), "n": n, "correct": k,
            "n_patients": int(r["n_groups"]), "method": "cluster bootstrap" if cluster else "wilson",
            "wilson_ci_low": float(r["wilson_low"]), "wilson_ci_high": float(r["wilson_high"]),
            "note": r["note"]}


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


def classification_summary(y_true, y_pred, labels: Sequence[int] | None = None, groups=None,
                           n_boot: int = 2000, seed: int = 0) -> dict:
    """accuracy_ci (patient-level when ``groups`` repeat) + per_class_table + confusion in one dict."""
    return {"accuracy": accuracy_ci(y_true, y_pred, groups=groups, n_boot=n_boot, seed=seed),
            "per_class": per_class_table(y_true, y_pred, labels),
            "confusion": confusion(y_true, y_pred, labels)}


def instance_auc(scores, instance_labels, method: str = "delong", fractured_only: bool = True,
                 n_boot: int = 2000, seed: int = 0, groups=None) -> dict | None:
    """AUC of per-slice scores (attention weights [B, N] or instance-head probabilities) against
    instance labels [B, N] (1 / 0, -1 unknown, dropped). fractured_only: only bags with at least
    one fracture slice (where 'which slice?' has an answer). None (with no error) when no
    positive or no negative slice remains.

    The CI resamples bags, or patients when ``groups`` (one patient per bag, [B]) is given, with
    all their slices (vfrepro.evaluate.metrics.auc_ci with groups: a cluster bootstrap, whatever
    ``method`` says, since a bag has several slices); ``method`` ("delong" / "bootstrap") applies
    only when every bag has a single known slice. Returns auc, ci_low, ci_high, method, note,
    n_pos, n_neg, n_bags, n_groups."""
    from vfrepro.evaluate.metrics import auc_ci
    s, y = np.asarray(scores, float), np.asarray(instance_labels, int)
    if s.shape != y.shape:
        raise ValueError(f"scores {s.shape} and instance labels {y.shape} differ in shape")
    if s.ndim == 1:
        s, y = s[None], y[None]
    if method not in ("delong", "bootstrap"):
        raise ValueError(f"method must be delong or bootstrap, got {method!r}")
    g = np.arange(len(y)).astype(str) if groups is None else np.asarray(groups, dtype=object).astype(str)
    if g.shape != (len(y),):
        raise ValueError(f"groups: one per bag expected ({len(y)}), got shape {g.shape}")
    keep = np.ones(len(y), bool)
    if fractured_only:
        keep = (y == 1).any(axis=1)
    s, y, g = s[keep], y[keep], g[keep]
    known = y >= 0
    ys, ss = y[known], s[known]
    if ys.size == 0 or ys.min() == ys.max():
        return None
    gs = np.broadcast_to(g[:, None], y.shape)[known]
    r = auc_ci(ys, ss, method, n_boot=n_boot, seed=seed, groups=gs)
    return {"auc": float(r["value"]), "ci_low": float(r["ci_low"]), "ci_high": float(r["ci_high"]),
            "method": r["method"], "note": r["note"], "n_pos": int((ys == 1).sum()), "n_neg": int((ys == 0).sum()),
            "n_bags": int(keep.sum()), "n_groups": int(len(np.unique(gs)))}
