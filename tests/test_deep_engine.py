"""Shared CNN engine: determinism, overfitting, patient-grouped folds, weights, freezing, crops."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from vfrepro.deep.cam import class_activation_maps
from vfrepro.deep.cv import expand_grid, grid_search
from vfrepro.deep.data import CropDataset, CropSpec, crop_factory, load_crops, patient_folds, patient_split
from vfrepro.deep.models import build_model, freeze, n_trainable
from vfrepro.deep.tasks import SingleLabel
from vfrepro.deep.train import TrainConfig, predict, train_model
from vfrepro.errors import InputError

torch.set_num_threads(1)


def fake_rows(tmp_path, n_patients=6, per_patient=2, size=48, seed=0):
    """Radiograph PNGs with boxes; class 1 crops carry a bright bar (a planted signal)."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        img = rng.integers(40, 90, size=(size * per_patient, size), dtype=np.uint8)
        for v in range(per_patient):
            y = (p + v) % 2
            if y:
                img[v * size + 10: v * size + 18, 8:40] = 250
            rows.append({"case_id": f"c{p:010x}", "level": f"L{v + 1}", "fracture": y,
                         "xray_lateral_path": str(tmp_path / f"p{p}.png"), "split": "train",
                         "lat_x0": 0, "lat_y0": v * size, "lat_x1": size, "lat_y1": (v + 1) * size})
        Image.fromarray(img).save(tmp_path / f"p{p}.png")
    return pd.DataFrame(rows)


def tiny_model(seed=0, arch="resnet18"):
    return build_model(arch, 2, None, "all", seed=seed)[0]


def test_crop_loading_and_bad_box(tmp_path):
    rows = fake_rows(tmp_path)
    spec = CropSpec(size=32, margin=0.0)
    crops = load_crops(rows, spec)
    assert crops.shape == (len(rows), 1, 32, 32) and crops.dtype == torch.uint8
    assert crops[rows.fracture == 1].float().mean() > crops[rows.fracture == 0].float().mean()
    bad = rows.copy()
    bad.loc[3, "lat_x1"] = 10_000
    with pytest.raises(InputError, match=rf"case {bad.case_id[3]}.*lat_x0"):
        load_crops(bad, spec)
    gone = rows.copy()
    gone.loc[0, "xray_lateral_path"] = str(tmp_path / "missing.png")
    with pytest.raises(InputError, match="missing.png"):
        load_crops(gone, spec)


def test_augmentation_is_seeded_and_off_at_eval(tmp_path):
    rows = fake_rows(tmp_path)
    spec = CropSpec(size=32, rotation_deg=20, hflip=True, vflip=True, shift=0.1)
    crops = load_crops(rows, spec)
    ds = CropDataset(crops, rows.fracture.to_numpy(), spec, train=True)
    torch.manual_seed(3)
    a = ds[0][0]
    torch.manual_seed(3)
    assert torch.equal(a, ds[0][0])
    ev = CropDataset(crops, rows.fracture.to_numpy(), spec, train=False)
    assert torch.equal(ev[0][0], ev[0][0])
    assert ev[0][0].shape == (3, 32, 32)


def test_same_seed_same_weights_and_predictions(tmp_path):
    rows = fake_rows(tmp_path)
    spec = CropSpec(size=32, rotation_deg=10, hflip=True)
    crops, y = load_crops(rows, spec), rows.fracture.to_numpy()
    cfg = TrainConfig(epochs=2, batch_size=4, lr=1e-3, seed=7, progress=False, scheduler="step", step_size=1)
    runs = []
    for _ in range(2):
        res = train_model(tiny_model(seed=7), CropDataset(crops, y, spec, True), cfg, task=SingleLabel(2))
        runs.append((res.model.state_dict(), predict(res.model, CropDataset(crops, y, spec, False))))
    for k in runs[0][0]:
        assert torch.equal(runs[0][0][k], runs[1][0][k]), k
    assert np.array_equal(runs[0][1], runs[1][1])
    other = train_model(tiny_model(seed=8), CropDataset(crops, y, spec, True),
                        TrainConfig(epochs=2, batch_size=4, lr=1e-3, seed=8, progress=False), task=SingleLabel(2))
    assert not np.array_equal(runs[0][1], predict(other.model, CropDataset(crops, y, spec, False)))


def test_tiny_overfit_reaches_full_training_accuracy(tmp_path):
    rows = fake_rows(tmp_path, n_patients=4)
    spec = CropSpec(size=32)
    crops, y = load_crops(rows, spec), rows.fracture.to_numpy()
    res = train_model(tiny_model(seed=1), CropDataset(crops, y, spec, True),
                      TrainConfig(epochs=15, batch_size=8, lr=1e-3, seed=1, progress=False),
                      log_csv=tmp_path / "log.csv", checkpoint=tmp_path / "ck.pt", task=SingleLabel(2))
    p = predict(res.model, CropDataset(crops, y, spec, False))
    assert (p.argmax(1) == y).mean() == 1.0
    log = pd.read_csv(tmp_path / "log.csv")
    assert list(log.epoch) == list(range(1, 16)) and {"train_loss", "lr", "val_loss"} <= set(log.columns)
    ck = torch.load(tmp_path / "ck.pt", weights_only=False)
    assert ck["finished"] and len(ck["history"]) == 15


def test_early_stopping_and_plateau(tmp_path):
    rows = fake_rows(tmp_path, n_patients=4)
    spec = CropSpec(size=32)
    crops, y = load_crops(rows, spec), rows.fracture.to_numpy()
    cfg = TrainConfig(epochs=30, batch_size=8, lr=0.5, optimizer="sgd", seed=0, early_stopping=2,
                      scheduler="plateau", plateau_patience=0, plateau_factor=0.5, progress=False)
    res = train_model(tiny_model(), CropDataset(crops, y, spec, True), cfg,
                      val_ds=CropDataset(crops, y, spec, False), task=SingleLabel(2))
    assert len(res.history) < 30  # stopped early
    assert res.best_epoch <= len(res.history)
    # The plateau scheduler watches training accuracy; a validation set (no early stopping)
    # is only logged and changes nothing.
    cfg = TrainConfig(epochs=6, batch_size=8, lr=0.5, optimizer="sgd", seed=0, scheduler="plateau",
                      plateau_patience=0, plateau_factor=0.5, progress=False)
    plain = train_model(tiny_model(), CropDataset(crops, y, spec, True), cfg, task=SingleLabel(2))
    logged = train_model(tiny_model(), CropDataset(crops, y, spec, True), cfg, task=SingleLabel(2),
                         val_ds=CropDataset(crops, y, spec, False))
    assert min(h["lr"] for h in plain.history) < 0.5
    assert all(h["val_loss"] != "" for h in logged.history) and logged.best_epoch == 6
    for k, v in plain.model.state_dict().items():
        assert torch.equal(v, logged.model.state_dict()[k]), k


def test_folds_grouped_by_patient():
    rng = np.random.default_rng(0)
    groups = np.repeat([f"c{i:010x}" for i in range(23)], rng.integers(1, 6, 23))
    y = rng.integers(0, 2, len(groups))
    for labels in (None, y):
        folds = patient_folds(groups, 5, seed=3, y=labels)
        assert set(folds) == set(range(5))
        per_patient = pd.Series(folds).groupby(groups).nunique()
        assert (per_patient == 1).all()
    assert not np.array_equal(patient_folds(groups, 5, 3), patient_folds(groups, 5, 4))
    assert np.array_equal(patient_folds(groups, 5, 3, y), patient_folds(groups, 5, 3, y))
    with pytest.raises(InputError, match="needs at least 30 patients"):
        patient_folds(groups, 30, 0)
    test = patient_split(groups, 0.2, seed=1)
    assert set(groups[test]).isdisjoint(groups[~test])
    assert abs(len(set(groups[test])) - round(0.2 * 23)) == 0


def test_grid_search_uses_patient_folds(tmp_path):
    rows = fake_rows(tmp_path, n_patients=6)
    spec = CropSpec(size=32)
    crops, y = load_crops(rows, spec), rows.fracture.to_numpy()
    assert len(expand_grid({"lr": [1e-3, 1e-4], "batch_size": [4, 8]})) == 4
    per_fold, summary, best = grid_search(lambda: tiny_model(), crop_factory(crops, y, spec), y,
                                          rows.case_id.to_numpy(), TrainConfig(epochs=1, batch_size=4, progress=False),
                                          {"lr": [1e-3, 1e-4]}, k=3, metric="loss", seed=0,
                                          log_dir=tmp_path / "cv", task=SingleLabel(2))
    assert len(per_fold) == 6 and set(per_fold.fold) == {0, 1, 2}
    assert best["lr"] == summary.iloc[0]["lr"]
    assert summary.iloc[0]["score"] >= summary.iloc[1]["score"]
    assert (per_fold.groupby("fold").n_val_patients.first() == 2).all()


def test_weights_file_loading_and_errors(tmp_path):
    src = build_model("resnet18", 1000, None, "all", seed=5)[0]
    # An ImageNet-shaped file: the 1000-way head is replaced after loading.
    f = tmp_path / "resnet18.pth"
    torch.save(src.state_dict(), f)
    m, init = build_model("resnet18", 2, str(f), "all", seed=0)
    assert "pretrained" in init and m.fc.out_features == 2
    assert torch.equal(m.conv1.weight, src.conv1.weight)
    with pytest.raises(InputError, match=r"not found.*missing_weights.pth|missing_weights.pth.*not found"):
        build_model("resnet18", 2, str(tmp_path / "missing_weights.pth"), "all",
                    weights_key="rosenberg_xray.weights.resnet18")
    try:
        build_model("resnet18", 2, str(tmp_path / "missing_weights.pth"), "all",
                    weights_key="rosenberg_xray.weights.resnet18")
    except InputError as exc:
        assert "rosenberg_xray.weights.resnet18" in str(exc)
    vgg_like = {"features.0.weight": torch.zeros(64, 3, 3, 3)}
    torch.save(vgg_like, tmp_path / "wrong.pth")
    with pytest.raises(InputError, match=r"does not fit resnet18.*missing key\(s\): bn1"):
        build_model("resnet18", 2, str(tmp_path / "wrong.pth"), "all")
    sd = src.state_dict()
    sd["conv1.weight"] = torch.zeros(8, 3, 7, 7)
    torch.save(sd, tmp_path / "shape.pth")
    with pytest.raises(InputError, match="shape mismatch"):
        build_model("resnet18", 2, str(tmp_path / "shape.pth"), "all")
    (tmp_path / "junk.pth").write_text("not a checkpoint")
    with pytest.raises(InputError, match="cannot read weights"):
        build_model("resnet18", 2, str(tmp_path / "junk.pth"), "all")


def test_freezing_last_two_residual_blocks():
    m, _ = build_model("resnet18", 2, None, ["layer3", "layer4"], seed=0)
    trainable = {n.split(".")[0] for n, p in m.named_parameters() if p.requires_grad}
    assert trainable == {"layer3", "layer4", "fc"}
    assert not m.conv1.weight.requires_grad and not m.layer2[0].conv1.weight.requires_grad
    full = n_trainable(freeze(m, "resnet18", "all"))
    assert full == sum(p.numel() for p in m.parameters())
    with pytest.raises(InputError, match="layer9"):
        build_model("resnet18", 2, None, ["layer9"], seed=0)
    # Frozen weights do not move in training.
    m, _ = build_model("resnet18", 2, None, ["layer4"], seed=0)
    before = m.conv1.weight.clone()
    x = torch.randn(4, 3, 32, 32)
    ds = torch.utils.data.TensorDataset(x, torch.tensor([0, 1, 0, 1]))
    ds.labels = torch.tensor([0, 1, 0, 1])
    train_model(m, ds, TrainConfig(epochs=1, batch_size=4, progress=False), task=SingleLabel(2))
    assert torch.equal(before, m.conv1.weight)


def test_cam_shapes_and_range():
    for arch in ("resnet18", "vgg11"):
        m = build_model(arch, 2, None, "all", seed=0)[0]
        maps, cls = class_activation_maps(m, arch, torch.randn(2, 3, 32, 32))
        assert maps.shape == (2, 32, 32) and cls.shape == (2,)
        assert maps.min() >= 0 and maps.max() <= 1 + 1e-6
