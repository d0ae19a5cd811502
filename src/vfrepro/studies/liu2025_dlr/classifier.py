"""liu2025_dlr classifiers: the zoo's grid search on patient-grouped training folds and the
winner's predictions for every vertebra, in the evaluation schema (vfrepro.evaluate.schema)."""

from __future__ import annotations

import pandas as pd

from .cohort import CLASSES

NOT_FEATURES = ("case_id", "split", "site", "label", "radscore")

CHOSEN: list[tuple[str, object, str]] = [
    ("classify.features", "the fused table's selected features (Radscore excluded)",
     "the paper trains the zoo on the fused features; the Radscore goes to the combined model only"),
    ("classify.oof_predictions.csv", "training rows, winner at its best params, the grid search's folds",
     "per-class thresholds (and any other post-hoc fit) need training predictions that did not see "
     "their own rows; the refitted model's in-sample training predictions are optimistic"),
]


def predictions(index: pd.Index, case_id, split, truth, P, model_classes, model: str) -> pd.DataFrame:
    """The predictions table of one model: ids from the key ``CASE:LABEL``, ``truth`` and
    ``pred`` as class names, ``prob_<class>`` for every study class (0 for one the model never
    saw in training)."""
    out = pd.DataFrame({"case_id": list(case_id),
                        "mask_label": [int(str(k).rsplit(":", 1)[1]) for k in index],
                        "patient": list(case_id), "split": list(split),
                        "truth": [str(int(v)) for v in truth]})
    classes = list(model_classes)
    for k in CLASSES:
        out[f"prob_{k}"] = P[:, classes.index(k)] if k in classes else 0.0
    out["pred"] = out[[f"prob_{k}" for k in CLASSES]].to_numpy().argmax(axis=1).astype(str)
    out["model"] = model
    return out


def classify(fused: pd.DataFrame, grids: dict, cv_folds: int, seed: int, threads: int, log=print):
    """Grid search of ``grids`` with CV on training rows; the best by CV macro AUC (ties:
    accuracy, then macro F1) predicts every vertebra. Gives (best name, CV table, fitted models,
    models meta, predictions, out-of-fold training predictions of the winner on the same folds)."""
    from vfrepro.classify import grid_search, oof_proba, pick_best
    from vfrepro.select import cv_folds as make_folds

    feats = [c for c in fused.columns if c not in NOT_FEATURES]
    tr = fused[fused["split"] == "train"]
    fold = make_folds(tr["label"].to_numpy(), tr["case_id"].to_numpy(), cv_folds, seed)
    models, table = grid_search(tr[feats], tr["label"].to_numpy(), fold, grids, seed, threads, log)
    best = pick_best(table)
    table["selected"] = table["model"] == best
    classes = sorted(tr["label"].unique().tolist())
    meta = {"features": feats, "best": best, "classes": classes,
            "selection": "max CV macro AUC; ties: CV accuracy, then CV macro F1, then zoo order"}
    P = models[best].predict_proba(fused[feats].to_numpy())
    pred = predictions(fused.index, fused["case_id"], fused["split"], fused["label"], P,
                       models[best].classes_, best)
    P_oof = oof_proba(models[best], best, tr[feats], tr["label"].to_numpy(), fold, threads)
    oof = predictions(tr.index, tr["case_id"], tr["split"], tr["label"], P_oof, classes, best)
    return best, table, models, meta, pred, oof
