"""Cross-validation scores what the refit does: a fold is trained exactly as the refit."""

from __future__ import annotations

import numpy as np
import torch

from test_deep_engine import fake_rows, tiny_model
from vfrepro.deep import cv
from vfrepro.deep.data import CropSpec, crop_factory, load_crops, patient_folds
from vfrepro.deep.tasks import SingleLabel
from vfrepro.deep.train import TrainConfig

torch.set_num_threads(1)


def _fold_models(monkeypatch, *args, **kw):
    got = []
    real = cv.train_model

    def spy(*a, **k):
        res = real(*a, **k)
        got.append({n: v.clone() for n, v in res.model.state_dict().items()})
        return res

    monkeypatch.setattr(cv, "train_model", spy)
    per_fold, _, _ = cv.grid_search(*args, **kw)
    monkeypatch.setattr(cv, "train_model", real)
    return got, per_fold


def test_fold_is_trained_as_the_refit_and_never_sees_its_held_out_rows(tmp_path, monkeypatch):
    rows = fake_rows(tmp_path, n_patients=6)
    spec = CropSpec(size=32, hflip=True, rotation_deg=5)
    crops, y, groups = load_crops(rows, spec), rows.fracture.to_numpy(), rows.case_id.to_numpy()
    base = TrainConfig(epochs=3, batch_size=4, lr=1e-3, scheduler="plateau", plateau_patience=0,
                       class_weights="balanced", seed=4, early_stopping=1, progress=False)
    task = SingleLabel(2)
    make = lambda: tiny_model(seed=4)  # noqa: E731
    setting = {"lr": 3e-3}
    folds = patient_folds(groups, 2, seed=0, y=y)
    got, per_fold = _fold_models(monkeypatch, make, crop_factory(crops, y, spec), y, groups, base,
                                 {"lr": [3e-3]}, k=2, seed=0, task=task)
    assert (per_fold.epochs_run == base.epochs).all()  # no early stop, final epoch kept
    for f in range(2):
        ref = cv.refit(make, crop_factory(crops, y, spec), np.flatnonzero(folds != f), base, setting, task=task)
        for n, v in ref.model.state_dict().items():
            assert torch.equal(v, got[f][n]), (f, n)
    # Scrambling the held-out fold's images does not change the fold model.
    held = torch.as_tensor(folds == 0)
    scrambled = crops.clone()
    scrambled[held] = torch.flip(scrambled[held], dims=(-1, -2)) // 2
    got2, _ = _fold_models(monkeypatch, make, crop_factory(scrambled, y, spec), y, groups, base,
                           {"lr": [3e-3]}, k=2, seed=0, task=task)
    for n, v in got[0].items():
        assert torch.equal(v, got2[0][n]), n
