"""liu2025_dlr classifier zoo: grid search on patient-grouped training folds, save/load."""

import numpy as np
import pandas as pd

from vfrepro.classify import MODELS, grid_search, load_models, pick_best, save_models
from vfrepro.select import cv_folds

TINY = {"LR": {"C": [0.1, 1.0]}, "SVM": {"C": [1.0]}, "KNN": {"n_neighbors": [5]}, "DT": {"max_depth": [2]},
        "RF": {"n_estimators": [20], "max_depth": [3]}, "ExtraTrees": {"n_estimators": [20]},
        "XGBoost": {"n_estimators": [20], "max_depth": [2]}, "LightGBM": {"n_estimators": [20], "num_leaves": [4]},
        "MLP": {"hidden_layer_sizes": [[8]], "alpha": [0.01], "max_iter": [300]}}  # zoo default 2000: slow


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=list("abcd"))
    y = np.digitize(X["a"] + 0.4 * rng.normal(size=n), [-0.6, 0.9])  # imbalanced 3 classes
    return X, y, np.repeat(np.arange(n // 2), 2)


def test_every_model_fits_and_learns_the_planted_signal(tmp_path):
    X, y, g = _data()
    fold = cv_folds(y, g, 3, 0)
    models, table = grid_search(X, y, fold, TINY, seed=0, n_jobs=1, log=lambda m: None)
    assert list(table["model"]) == list(MODELS)
    assert (table["cv_macro_auc"] > 0.75).all(), table[["model", "cv_macro_auc"]]
    best = pick_best(table)
    assert table.set_index("model").at[best, "cv_macro_auc"] == table["cv_macro_auc"].max()
    save_models(models, tmp_path / "m.joblib", {"best": best})
    loaded, meta = load_models(tmp_path / "m.joblib")
    assert meta["best"] == best
    assert np.array_equal(loaded[best].predict_proba(X.to_numpy()), models[best].predict_proba(X.to_numpy()))


def test_same_seed_same_choice():
    X, y, g = _data(seed=1)
    fold = cv_folds(y, g, 3, 0)
    grids = {k: TINY[k] for k in ("LR", "RF", "LightGBM")}
    _, t1 = grid_search(X, y, fold, grids, seed=0, log=lambda m: None)
    _, t2 = grid_search(X, y, fold, grids, seed=0, log=lambda m: None)
    pd.testing.assert_frame_equal(t1.drop(columns="seconds"), t2.drop(columns="seconds"))
