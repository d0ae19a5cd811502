"""liu2025_dlr per-class thresholds: each class's one-vs-rest score cut at Youden's J, fitted on
the out-of-fold training scores of the classification stage (``oof_predictions.csv``: every
training vertebra scored by the CV fold model that did not see it), then applied unchanged to
every split's predictions. Beside the argmax per-class metrics of Table 3, because the paper's
per-class accuracies cannot be argmax ones (for argmax, the per-class one-vs-rest errors sum to
twice the overall error; the published Table 3 breaks that). Computes and returns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vfrepro.errors import InputError

from .cohort import CLASSES, SPLITS

NAMES = [str(k) for k in CLASSES]
COLUMNS = ["backbone", "model", "split", "class", "method", "threshold", "accuracy", "sensitivity", "specificity",
           "n", "n_positive", "note"]
METHODS = {"argmax": "argmax of the three class probabilities",
           "youden_oof": "Youden threshold fitted on out-of-fold training scores"}

CHOSEN: list[tuple[str, object, str]] = [
    ("per-class accuracy", "argmax and, beside it, a per-class Youden threshold",
     "the paper does not say how a per-class accuracy was obtained; its per-class errors do not sum to twice "
     "the overall error, so they are not argmax ones: a one-vs-rest threshold per class is the reading taken"),
    ("per-class threshold fit", "Youden's J on the out-of-fold training scores (oof_predictions.csv)",
     "fitted on training rows only, on scores of models that did not see the row (in-sample scores of the "
     "refitted model would put the cut too high); the same threshold is then used on every split"),
    ("Youden threshold ties", "the largest threshold of maximal J (sklearn roc_curve order); positive when "
     "score >= threshold", "the paper gives no rule"),
]


def youden(y, score) -> float:
    """The score cut maximising sensitivity + specificity - 1 (sklearn.metrics.roc_curve); NaN
    when ``y`` holds one class only."""
    from sklearn.metrics import roc_curve
    y = np.asarray(y).astype(int)
    if y.min(initial=0) == y.max(initial=0):
        return float("nan")
    fpr, tpr, thr = roc_curve(y, np.asarray(score, float), drop_intermediate=False)
    ok = np.isfinite(thr)  # the first threshold (inf) calls nothing positive
    j = np.where(ok, tpr - fpr, -np.inf)
    return float(thr[int(np.argmax(j))])


def fit(oof: pd.DataFrame, path=None) -> dict[str, float]:
    """Class -> Youden threshold from the out-of-fold training predictions of one backbone."""
    tr = oof[oof["split"] == "train"]
    if tr.empty:
        raise InputError("out-of-fold predictions hold no training rows (split == 'train'); the per-class "
                         "thresholds are fitted on training only", path=None if path is None else str(path),
                         field="split")
    return {k: youden(tr["truth"].astype(str) == k, tr[f"prob_{k}"]) for k in NAMES}


def _binary(y: np.ndarray, hit: np.ndarray) -> dict:
    n, npos = len(y), int(y.sum())
    tp, tn = int((hit & y).sum()), int((~hit & ~y).sum())
    return {"accuracy": (tp + tn) / n if n else np.nan, "sensitivity": tp / npos if npos else np.nan,
            "specificity": tn / (n - npos) if n - npos else np.nan, "n": n, "n_positive": npos}


def per_class(preds: dict[str, pd.DataFrame], oof: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per (backbone, split, class, method): accuracy, sensitivity and specificity of class
    k vs the rest, by argmax and at the class's Youden threshold fitted on ``oof[backbone]``
    (no Youden rows for a backbone without out-of-fold scores)."""
    rows = []
    for bb, pr in preds.items():
        thr = fit(oof[bb]) if bb in oof else None
        for s in SPLITS:
            d = pr[pr["split"] == s]
            if d.empty:
                continue
            truth = d["truth"].astype(str).to_numpy()
            P = d[[f"prob_{k}" for k in NAMES]].to_numpy(float)
            arg = np.asarray(NAMES)[P.argmax(axis=1)]
            for j, k in enumerate(NAMES):
                y = truth == k
                base = {"backbone": bb, "model": d["model"].iloc[0] if "model" in d else "", "split": s, "class": k}
                note = "class absent from the split" if not y.any() else ""
                rows.append({**base, "method": "argmax", "threshold": np.nan, **_binary(y, arg == k), "note": note})
                if thr is not None:
                    t = thr[k]
                    hit = P[:, j] >= t if np.isfinite(t) else np.zeros(len(y), bool)
                    why = note or ("" if np.isfinite(t) else "class absent from the training scores")
                    rows.append({**base, "method": "youden_oof", "threshold": t, **_binary(y, hit), "note": why})
    return pd.DataFrame(rows, columns=COLUMNS)


__all__ = ["CHOSEN", "COLUMNS", "METHODS", "youden", "fit", "per_class"]
