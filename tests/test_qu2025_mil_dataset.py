"""qu2025_mil Dataset: shapes, targets, train jitter from torch's RNG, per-instance vs per-bag."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vfrepro.studies.qu2025_mil.bags import Bag
from vfrepro.studies.qu2025_mil.dataset import BagDataset, build_transform
from vfrepro.studies.qu2025_mil import labels as L

SPEC = {"resize": 36, "crop": 32}


def _bag(view="S", ao="A1", inst=(0, 1, 1, 0, 0), same=False, size=40):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (1 if same else 5, size, size), dtype=np.uint8)
    img = np.repeat(img, 5, 0) if same else img
    il = None if inst is None else np.array(inst, np.int8)
    return Bag("c1", 20, view, img, [0] * 5, il, ao, L.bag_label(view, ao, il))


def test_eval_item_shapes_targets_and_determinism():
    ds = BagDataset([_bag("Z", "A3")], "Z", SPEC, train=False)
    x, t = ds[0]
    assert x.shape == (5, 3, 32, 32) and x.dtype == torch.float32 and type(x) is torch.Tensor
    assert -1.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert torch.equal(x, ds[0][0])
    assert int(t["bag"]) == 3 and int(t["super"]) == L.super_index("A3")
    assert t["instance"].tolist() == [0, 1, 1, 0, 0]
    assert t["instance_class"].tolist() == [5, 3, 3, 5, 5]


def test_unknown_instances_and_s_has_no_super():
    ds = BagDataset([_bag("S", "A0", inst=None)], "S", SPEC)
    _, t = ds[0]
    assert "super" not in t and int(t["bag"]) == 0
    assert t["instance"].tolist() == [-1] * 5 and t["instance_class"].tolist() == [-1] * 5


def test_train_jitters_every_call_and_follows_the_global_seed():
    ds = BagDataset([_bag()], "S", SPEC, train=True)
    torch.manual_seed(3)
    a, b = ds[0][0], ds[0][0]
    assert not torch.equal(a, b)
    torch.manual_seed(3)
    assert torch.equal(a, ds[0][0])


def test_per_instance_vs_per_bag():
    torch.manual_seed(0)
    x_bag, _ = BagDataset([_bag(same=True)], "S", {**SPEC, "per": "bag"}, train=True)[0]
    assert all(torch.equal(x_bag[0], x_bag[k]) for k in range(1, 5))
    x_ins, _ = BagDataset([_bag(same=True)], "S", {**SPEC, "per": "instance"}, train=True)[0]
    assert not all(torch.equal(x_ins[0], x_ins[k]) for k in range(1, 5))


def test_loader_batches_bags_and_paper_preset():
    ds = BagDataset([_bag("Z", "A1"), _bag("Z", "AZ", inst=(0,) * 5)], "Z", SPEC)
    x, t = next(iter(DataLoader(ds, batch_size=2)))
    assert x.shape == (2, 5, 3, 32, 32) and t["bag"].tolist() == [1, 5] and t["super"].tolist() == [0, 2]
    tf = build_transform(None, train=False)
    assert tf(torch.zeros(3, 300, 300, dtype=torch.uint8)).shape == (3, 224, 224)
    with pytest.raises(ValueError, match="another view"):
        BagDataset([_bag("S")], "Z", SPEC)
    with pytest.raises(ValueError, match="crop"):
        build_transform({"resize": 32, "crop": 64})
