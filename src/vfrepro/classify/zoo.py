"""The classifier zoo of liu2025_dlr: nine scikit-learn-API models, class weighting, grid search
with k-fold CV on training rows only (folds grouped by patient, stratified by class), the best
model by mean CV macro one-vs-rest AUC. Grids come from config; nothing is chosen on a test split.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.utils.class_weight import compute_sample_weight

MODELS = ("LR", "SVM", "KNN", "DT", "RF", "ExtraTrees", "XGBoost", "LightGBM", "MLP")
# Models whose estimator takes class_weight; the others get balanced sample weights in fit
# (KNN takes neither: it is left unweighted, as stated in the results).
_CLASS_WEIGHT = {"LR", "SVM", "DT", "RF", "ExtraTrees", "LightGBM"}
_SAMPLE_WEIGHT = {"XGBoost", "MLP"}


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
        return SVC(class_weight="balanced", probability=True, random_state=seed)
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


def _scorer(n_classes: int):
    return "roc_auc_ovr" if n_classes > 2 else "roc_auc"


def grid_search(X: pd.DataFrame, y, fold: np.ndarray, grids: dict[str, dict], seed: int = 0,
                n_jobs: int = 1, log=print) -> tuple[dict, pd.DataFrame]:
    """Grid-search every model of ``grids`` ({name: {param: [values]}}) with the given CV folds.

    Gives ({name: refitted best estimator}, summary table: model, best params, mean/sd CV
    macro AUC, seconds). CV macro AUC is sklearn's ``roc_auc_ovr`` (unweighted mean of
    one-vs-rest AUCs) over held-out folds of training rows."""
    y = np.asarray(y).astype(int)
    K = len(np.unique(y))
    cv = PredefinedSplit(fold)
    fitted, rows = {}, []
    for name, grid in grids.items():
        t0 = time.time()
        est = make_estimator(name, seed, K)
        fit_params = {"sample_weight": compute_sample_weight("balanced", y)} if name in _SAMPLE_WEIGHT else {}
        gs = GridSearchCV(est, {k: list(v) for k, v in (grid or {}).items()}, scoring=_scorer(K), cv=cv,
                          n_jobs=n_jobs, refit=True, error_score=np.nan)
        gs.fit(X.to_numpy(), y, **fit_params)
        i = gs.best_index_
        res = gs.cv_results_
        rows.append({"model": name, "best_params": json.dumps(gs.best_params_, sort_keys=True, default=str),
                     "cv_macro_auc": float(res["mean_test_score"][i]), "cv_macro_auc_sd": float(res["std_test_score"][i]),
                     "n_candidates": len(res["params"]), "n_folds": int(cv.get_n_splits()),
                     "class_weighting": "class_weight=balanced" if name in _CLASS_WEIGHT
                     else ("balanced sample_weight" if name in _SAMPLE_WEIGHT else "none (KNN has no weights)"),
                     "seconds": round(time.time() - t0, 2)})
        fitted[name] = gs.best_estimator_
        log(f"{name}: CV macro AUC {rows[-1]['cv_macro_auc']:.3f} with {gs.best_params_} ({rows[-1]['seconds']} s)")
    table = pd.DataFrame(rows)
    return fitted, table


def pick_best(table: pd.DataFrame) -> str:
    """Best model by mean CV macro AUC (ties: smaller CV SD, then zoo order)."""
    t = table.copy()
    t["order"] = [MODELS.index(m) for m in t["model"]]
    t = t.sort_values(["cv_macro_auc", "cv_macro_auc_sd", "order"], ascending=[False, True, True], na_position="last")
    return str(t.iloc[0]["model"])


def save_models(models: dict, path: str | Path, meta: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    joblib.dump({"models": models, "meta": meta}, path)


def load_models(path: str | Path) -> tuple[dict, dict]:
    d = joblib.load(path)
    return d["models"], d["meta"]
