"""liu2025_dlr classifier zoo: grid search on patient-grouped training folds, save/load."""

import numpy as np
import pytest
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
    pd.testing.assert_frame_equal(t1, t2)


def test_cv_table_reports_auc_accuracy_and_f1_and_matches_sklearn():
    """The three selection metrics at the chosen params equal sklearn's own cross_validate."""
    from sklearn.model_selection import PredefinedSplit, cross_validate

    from vfrepro.classify import make_estimator
    X, y, g = _data(seed=2)
    fold = cv_folds(y, g, 3, 0)
    _, t = grid_search(X, y, fold, {"LR": {"C": [1.0]}}, seed=0, log=lambda m: None)
    for m in ("macro_auc", "accuracy", "f1_macro"):
        assert {f"cv_{m}", f"cv_{m}_sd"} <= set(t.columns)
    ref = cross_validate(make_estimator("LR", 0).set_params(C=1.0), X.to_numpy(), y, cv=PredefinedSplit(fold),
                         scoring=["roc_auc_ovr", "accuracy", "f1_macro"])
    assert np.isclose(t.at[0, "cv_macro_auc"], ref["test_roc_auc_ovr"].mean())
    assert np.isclose(t.at[0, "cv_accuracy"], ref["test_accuracy"].mean())
    assert np.isclose(t.at[0, "cv_f1_macro_sd"], ref["test_f1_macro"].std())


def test_pick_best_breaks_auc_ties_by_accuracy_then_f1():
    t = pd.DataFrame({"model": ["LR", "SVM", "KNN"], "cv_macro_auc": [0.8, 0.8, 0.8],
                      "cv_accuracy": [0.6, 0.7, 0.7], "cv_f1_macro": [0.9, 0.5, 0.6]})
    assert pick_best(t) == "KNN"
    t.loc[0, "cv_macro_auc"] = 0.81
    assert pick_best(t) == "LR"


def test_svm_has_no_deprecated_probability_and_keeps_config_grid_names():
    import warnings
    X, y, g = _data(seed=3)
    fold = cv_folds(y, g, 3, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        models, t = grid_search(X, y, fold, {"SVM": {"C": [0.5, 1.0], "kernel": ["rbf"]}}, seed=0, log=lambda m: None)
        P = models["SVM"].predict_proba(X.to_numpy())
    assert set(__import__("json").loads(t.at[0, "best_params"])) == {"C", "kernel"}
    assert np.allclose(P.sum(axis=1), 1) and t.at[0, "cv_macro_auc"] > 0.75


def test_oof_predictions_come_from_models_that_never_saw_the_row():
    """Each training row's OOF probabilities equal a model refitted without its fold."""
    from sklearn.base import clone

    from vfrepro.classify import oof_proba
    X, y, g = _data(seed=4)
    fold = cv_folds(y, g, 3, 0)
    models, _ = grid_search(X, y, fold, {"LR": {"C": [0.1, 1.0]}}, seed=0, log=lambda m: None)
    P = oof_proba(models["LR"], "LR", X, y, fold)
    assert P.shape == (len(y), 3)
    f0 = fold == 0
    ref = clone(models["LR"]).fit(X.to_numpy()[~f0], y[~f0]).predict_proba(X.to_numpy()[f0])
    assert np.allclose(P[f0], ref)
    # out of fold differs from the in-sample refit (which saw every row)
    assert not np.allclose(P, models["LR"].predict_proba(X.to_numpy()))


def test_study_classify_writes_oof_with_the_predictions_columns():
    from vfrepro.studies.liu2025_dlr.classifier import classify
    X, y, g = _data(seed=5)
    rng = np.random.default_rng(0)
    split = np.where(np.repeat(rng.random(len(g) // 2) < 0.75, 2), "train", "internal")
    fused = X.assign(case_id=[f"c{k}" for k in g], split=split, site="s1", label=y, radscore=0.0)
    fused.index = [f"c{k}:{20 + i % 2}" for i, k in enumerate(g)]
    best, t, models, meta, pred, oof = classify(fused, {"LR": {"C": [1.0]}, "KNN": {"n_neighbors": [5]}}, 3, 0, 1,
                                                log=lambda m: None)
    assert list(oof.columns) == list(pred.columns)
    assert (oof["split"] == "train").all() and len(oof) == (split == "train").sum()
    assert (oof["model"] == best).all()


def test_svm_calibration_folds_shrink_to_the_smallest_class_with_a_warning():
    import warnings

    from vfrepro.classify.zoo import make_estimator
    from vfrepro.select.core import FoldsReduced

    rng = np.random.default_rng(0)
    y = np.array([0] * 12 + [1] * 12 + [2] * 3)
    X = rng.normal(size=(len(y), 4)) + y[:, None]
    svm = make_estimator("SVM", seed=0)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        svm.fit(X, y)
    assert any(issubclass(x.category, FoldsReduced) and "3 internal folds" in str(x.message) for x in w)
    assert svm.get_params()["cv"] == 5  # the parameter is restored after fit
    P = svm.predict_proba(X)
    assert P.shape == (len(y), 3) and np.allclose(P.sum(axis=1), 1)
    lone = np.r_[y[:24], 2]
    with pytest.warns(FoldsReduced, match="in-sample"):
        P1 = make_estimator("SVM").fit(X[:25], lone).predict_proba(X[:25])
    assert P1.shape == (25, 3) and np.isfinite(P1).all()
