"""The classifier zoo of liu2025_dlr: nine scikit-learn-API models, class weighting, grid search
with k-fold CV on training rows only (folds grouped by patient, stratified by class) scored by
macro one-vs-rest AUC, accuracy and macro F1; the best model by mean CV macro AUC (ties: accuracy,
then F1). Grids come from config; nothing is chosen on a test split.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import GridSearchCV, PredefinedSplit, cross_val_predict
from sklearn.utils.class_weight import compute_sample_weight

MODELS = ("LR", "SVM", "KNN", "DT", "RF", "ExtraTrees", "XGBoost", "LightGBM", "MLP")
# Models whose estimator takes class_weight; the others get balanced sample weights in fit
# (KNN takes neither: it is left unweighted, as stated in the results).
_CLASS_WEIGHT = {"LR", "SVM", "DT", "RF", "ExtraTrees", "LightGBM"}
_SAMPLE_WEIGHT = {"XGBoost", "MLP"}
# CV scores of the grid search (sklearn scorer names); the refit and the choice use the first.
SCORING = {"macro_auc": "roc_auc_ovr", "accuracy": "accuracy", "f1_macro": "f1_macro"}
# SVC's own parameters sit inside the calibration wrapper (see make_estimator).
_SVM_PREFIX = "estimator__"

CHOSEN: list[tuple[str, object, str]] = [
    ("classify.selection", "macro AUC, then accuracy, then macro F1",
     "the paper selects 'based on macro-average AUC, ACC and F1-score' without an order; the grid "
     "search refits each model at its best CV macro AUC and the winner is the model with the highest "
     "mean CV macro AUC, ties broken by mean CV accuracy, then macro F1, then zoo order"),
    ("classify.cv_scores", "roc_auc_ovr, accuracy, f1_macro (sklearn scorers, unweighted)",
     "all three of the paper's selection metrics, mean and SD over the patient-grouped folds in cv_results.csv"),
    ("classify.SVM.probabilities", "CalibratedClassifierCV(SVC(), method='sigmoid', cv=5, ensemble=False)",
     "SVC(probability=True) is deprecated in scikit-learn 1.9 (removed in 1.11); this is its documented "
     "replacement. Like libsvm's Platt scaling, its internal 5 folds split rows, not patients; multiclass "
     "probabilities are one-vs-rest sigmoids normalised (libsvm coupled pairwise ones); a training set with "
     "fewer than 5 rows of a class calibrates on as many folds as its smallest class has (in-sample with "
     "one row; PlattSVC), so SVM "
     "probabilities, its CV scores and any table where SVM wins differ from the previous release"),
    ("classify.class_weighting", "class_weight=balanced (LR, SVM, DT, RF, ExtraTrees, LightGBM); balanced "
     "sample weights (XGBoost, MLP); none (KNN)", "the paper says 'class weighting' without the scheme"),
    ("classify.oof_predictions", "cross_val_predict(method='predict_proba') of the winner at its best params",
     "out-of-fold training predictions on the same patient-grouped folds, for fitting per-class thresholds "
     "on training rows only"),
]


class PlattSVC(CalibratedClassifierCV):
    """CalibratedClassifierCV whose internal folds shrink to the smallest class count (at least 2)
    when a training set has fewer rows of a class than ``cv`` asks (in-sample calibration when a
    class has one row): a small cohort, or a CV fold of one, still gets an SVM (with a
    FoldsReduced warning in the log) instead of an error."""

    def fit(self, X, y, **params):
        from vfrepro.select.core import FoldsReduced
        asked = self.cv
        counts = np.unique(np.asarray(y), return_counts=True)[1]
        if isinstance(asked, int) and counts.min() < asked:
            if counts.min() < 2:
                # No fold split can hold the lone row out: calibrate on the training rows' own
                # decision values (optimistic; only a tiny cohort or CV fold gets here).
                warnings.warn(f"SVM calibration in-sample instead of {asked} internal folds (smallest class has "
                              f"{counts.min()} training row)", FoldsReduced, stacklevel=2)
                idx = np.arange(len(y))
                self.cv = [(idx, idx)]
            else:
                warnings.warn(f"SVM calibration: {counts.min()} internal folds instead of {asked} (smallest "
                              f"class has {counts.min()} training rows)", FoldsReduced, stacklevel=2)
                self.cv = int(counts.min())
        try:
            return super().fit(X, y, **params)
        finally:
            self.cv = asked  # a parameter, not state: restore what the caller set


def make_estimator(name: str, seed: int = 0, n_classes: int = 3):
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    if name == "LR":
        return LogisticRegression(class_weight="balanced", max_iter=5000, random_state=seed)
    if name == "SVM":
        # scikit-learn 1.9's replacement for SVC(probability=True): Platt (sigmoid) calibration on
        # internal 5-fold decision values, one SVC refitted on all rows (ensemble=False).
        return PlattSVC(SVC(class_weight="balanced", random_state=seed), method="sigmoid", cv=5, ensemble=False)
    if name == "KNN":
        return KNeighborsClassifier()
    if name == "DT":
        return DecisionTreeClassifier(class_weight="balanced", random_state=seed)
    if name == "RF":
        return RandomForestClassifier(class_weight="balanced", random_state=seed, n_jobs=1)
    if name == "ExtraTrees":
        return ExtraTreesClassifier(class_weight="balanced", random_state=seed, n_jobs=1)
    if name == "XGBoost":
        from xgboost import XGBClassifier
        return XGBClassifier(random_state=seed, n_jobs=1, tree_method="hist", verbosity=0,
                             eval_metric="mlogloss" if n_classes > 2 else "logloss")
    if name == "LightGBM":
        from lightgbm import LGBMClassifier
        return LGBMClassifier(class_weight="balanced", random_state=seed, n_jobs=1, verbose=-1,
                              deterministic=True, force_row_wise=True)
    if name == "MLP":
        return MLPClassifier(max_iter=2000, random_state=seed, early_stopping=False)
    raise ValueError(f"unknown classifier {name!r}; choose from {', '.join(MODELS)}")


def _scoring(n_classes: int) -> dict:
    return SCORING if n_classes > 2 else {**SCORING, "macro_auc": "roc_auc"}


def _grid(name: str, grid: dict | None) -> dict:
    """The config grid with SVC's parameters addressed inside the calibration wrapper."""
    g = {k: list(v) for k, v in (grid or {}).items()}
    return {(_SVM_PREFIX + k if name == "SVM" and not k.startswith(_SVM_PREFIX) else k): v for k, v in g.items()}


def _public(params: dict) -> dict:
    """Best params as the config names them (without the wrapper prefix)."""
    return {k[len(_SVM_PREFIX):] if k.startswith(_SVM_PREFIX) else k: v for k, v in params.items()}


def _fit_params(name: str, y) -> dict:
    return {"sample_weight": compute_sample_weight("balanced", y)} if name in _SAMPLE_WEIGHT else {}


def grid_search(X: pd.DataFrame, y, fold: np.ndarray, grids: dict[str, dict], seed: int = 0,
                n_jobs: int = 1, log=print) -> tuple[dict, pd.DataFrame]:
    """Grid-search every model of ``grids`` ({name: {param: [values]}}) with the given CV folds.

    Gives ({name: refitted best estimator}, summary table: model, best params, mean/sd CV
    macro AUC, accuracy and macro F1 at those params; the time of each goes to ``log``). CV macro AUC is sklearn's
    ``roc_auc_ovr`` (unweighted mean of one-vs-rest AUCs) over held-out folds of training rows;
    each model is refitted at its best CV macro AUC."""
    y = np.asarray(y).astype(int)
    K = len(np.unique(y))
    cv = PredefinedSplit(fold)
    fitted, rows = {}, []
    for name, grid in grids.items():
        t0 = time.time()
        est = make_estimator(name, seed, K)
        gs = GridSearchCV(est, _grid(name, grid), scoring=_scoring(K), cv=cv, n_jobs=n_jobs, refit="macro_auc",
                          error_score=np.nan)
        gs.fit(X.to_numpy(), y, **_fit_params(name, y))
        i = gs.best_index_
        res = gs.cv_results_
        row = {"model": name, "best_params": json.dumps(_public(gs.best_params_), sort_keys=True, default=str)}
        for m in SCORING:
            row[f"cv_{m}"] = float(res[f"mean_test_{m}"][i])
            row[f"cv_{m}_sd"] = float(res[f"std_test_{m}"][i])
        row.update({"n_candidates": len(res["params"]), "n_folds": int(cv.get_n_splits()),
                    "class_weighting": "class_weight=balanced" if name in _CLASS_WEIGHT
                    else ("balanced sample_weight" if name in _SAMPLE_WEIGHT else "none (KNN has no weights)")})
        rows.append(row)
        fitted[name] = gs.best_estimator_
        # the time goes to the log, not the table: same config and seed give the same table
        log(f"{name}: CV macro AUC {row['cv_macro_auc']:.3f}, accuracy {row['cv_accuracy']:.3f}, macro F1 "
            f"{row['cv_f1_macro']:.3f} with {_public(gs.best_params_)} ({time.time() - t0:.2f} s)")
    table = pd.DataFrame(rows)
    return fitted, table


def oof_proba(estimator, name: str, X: pd.DataFrame, y, fold: np.ndarray, n_jobs: int = 1) -> np.ndarray:
    """Out-of-fold class probabilities of training rows: ``estimator``'s parameters (the winner's
    best) refitted on each training part of the same folds, columns in sorted class order."""
    y = np.asarray(y).astype(int)
    return cross_val_predict(clone(estimator), X.to_numpy(), y, cv=PredefinedSplit(fold), method="predict_proba",
                             n_jobs=n_jobs, params=_fit_params(name, y))


def pick_best(table: pd.DataFrame) -> str:
    """Best model by mean CV macro AUC (ties: higher CV accuracy, then higher macro F1, then zoo
    order; see CHOSEN)."""
    t = table.copy()
    t["order"] = [MODELS.index(m) for m in t["model"]]
    keys = [c for c in ("cv_macro_auc", "cv_accuracy", "cv_f1_macro") if c in t] + ["order"]
    t = t.sort_values(keys, ascending=[False] * (len(keys) - 1) + [True], na_position="last")
    return str(t.iloc[0]["model"])


def save_models(models: dict, path: str | Path, meta: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    joblib.dump({"models": models, "meta": meta}, path)


def load_models(path: str | Path) -> tuple[dict, dict]:
    d = joblib.load(path)
    return d["models"], d["meta"]
