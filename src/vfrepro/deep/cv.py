"""k-fold cross-validation over a hyperparameter grid, folds by patient, then refit.

As rosenberg_xray: the training set is split into k patient-grouped folds; every grid
setting is trained on k-1 folds and scored on the held-out fold; the setting with the best
pooled out-of-fold score is refitted on all training data. The test set is never seen here.
A fold is trained exactly as the refit (same loop, same epochs, final epoch kept, plateau on
training accuracy): the held-out fold is scored only after training, never steers it.
Datasets come from a factory ``make_dataset(index, train) -> Dataset`` over the training rows.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .data import patient_folds
from .tasks import Task
from .train import TrainConfig, predict, train_model

__all__ = ["expand_grid", "cv_score", "grid_search", "refit"]

CV_METRICS = ("loss", "accuracy", "auc")


def expand_grid(grid: dict[str, list]) -> list[dict]:
    """{"lr": [1e-3, 1e-4], "batch_size": [8, 16]} -> the 4 settings, in a fixed order."""
    if not grid:
        return [{}]
    keys = sorted(grid)
    for k in keys:
        if not isinstance(grid[k], (list, tuple)) or not grid[k]:
            raise ValueError(f"cv grid entry '{k}' must be a non-empty list, got {grid[k]!r}")
    return [dict(zip(keys, vals)) for vals in itertools.product(*(grid[k] for k in keys))]


def cv_score(truth: np.ndarray, probs: np.ndarray, metric: str) -> float:
    """Higher is better: accuracy, binary AUC (statistics core) / mean one-vs-rest AUC, or -NLL."""
    truth = np.asarray(truth)
    if metric == "accuracy":
        return float((probs.argmax(1) == truth).mean())
    if metric == "loss":
        p = np.clip(probs[np.arange(len(truth)), truth], 1e-12, 1.0)
        return float(np.log(p).mean())
    if metric == "auc":
        from ..stats.roc import auc
        aucs = []
        for k in ([1] if probs.shape[1] == 2 else range(probs.shape[1])):
            y = (truth == k).astype(int)
            if 0 < y.sum() < len(y):
                aucs.append(auc(y, probs[:, k]))
        return float(np.mean(aucs)) if aucs else float("nan")
    raise ValueError(f"cv metric must be one of {CV_METRICS}, got {metric!r}")


def _subset(weights, idx):
    return None if weights is None else np.asarray(weights)[idx]


def grid_search(make_model: Callable, make_dataset: Callable, labels, groups, base: TrainConfig,
                grid: dict[str, list], k: int, metric: str = "loss", seed: int = 0,
                log_dir: str | Path | None = None, desc: str = "cv", task: Task | None = None,
                sample_weights=None):
    """Score every grid setting by k-fold CV grouped by patient.

    ``make_model()`` gives a fresh model; ``make_dataset(index, train)`` the dataset of those
    training rows; ``labels``/``groups`` are the rows' class indices and case ids;
    ``task`` the adapter (single-label: the scores are on class probabilities);
    ``sample_weights`` (optional, per row) feed the sampler. Gives (per-fold DataFrame, summary
    DataFrame sorted best first, best setting dict). Fold assignment depends on ``seed`` only,
    so every setting sees the same folds.
    """
    labels = np.asarray(labels)
    folds = patient_folds(groups, k, seed, y=labels)
    settings = expand_grid(grid)
    rows, summary = [], []
    for si, setting in enumerate(settings):
        oof = None
        for f in range(k):
            tr, va = np.flatnonzero(folds != f), np.flatnonzero(folds == f)
            log = Path(log_dir) / f"setting{si}_fold{f}.csv" if log_dir else None
            res = refit(make_model, make_dataset, tr, base, {**setting, "progress": False}, log_csv=log,
                        desc=f"{desc} {si}/{f}", task=task, sample_weights=_subset(sample_weights, tr))
            p = predict(res.model, make_dataset(va, False), device=res.device, task=task)
            if oof is None:
                oof = np.zeros((len(labels), p.shape[1]))
            oof[va] = p
            rows.append({"setting": si, **setting, "fold": f, "n_val": len(va),
                         "n_val_patients": int(len(np.unique(np.asarray(groups)[va]))),
                         "epochs_run": len(res.history),
                         "val_accuracy": cv_score(labels[va], p, "accuracy"),
                         "val_loglik": cv_score(labels[va], p, "loss")})
        summary.append({"setting": si, **setting, "metric": metric,
                        "score": cv_score(labels, oof, metric),
                        "oof_accuracy": cv_score(labels, oof, "accuracy"),
                        "oof_loglik": cv_score(labels, oof, "loss")})
    per_fold = pd.DataFrame(rows)
    summ = pd.DataFrame(summary)
    # Best = highest score; ties -> the earlier setting in grid order (stable sort).
    summ = summ.sort_values("score", ascending=False, kind="stable", na_position="last")
    best_id = int(summ.iloc[0]["setting"])
    best = settings[best_id]
    if log_dir:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        (Path(log_dir) / "folds.json").write_text(json.dumps(
            {"k": k, "seed": seed, "fold_of_case": dict(sorted(
                {str(g): int(f) for g, f in zip(groups, folds)}.items()))}, indent=1))
    return per_fold, summ.reset_index(drop=True), best


def refit(make_model: Callable, make_dataset: Callable, index, base: TrainConfig, best: dict,
          log_csv=None, checkpoint=None, desc: str = "refit", task: Task | None = None,
          sample_weights=None):
    """Train a fresh model on the rows ``index`` with ``base`` updated by the chosen setting
    (no validation set, full epochs, final epoch kept). CV folds are trained by this too."""
    return train_model(make_model(), make_dataset(np.asarray(index), True), replace(base, **best),
                       log_csv=log_csv, checkpoint=checkpoint, desc=desc, task=task,
                       sample_weights=sample_weights)
