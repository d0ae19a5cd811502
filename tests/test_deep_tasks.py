"""The one training loop with each task adapter: a tiny model learns a planted signal."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from vfrepro.deep.data import ArrayDataset, DetectionDataset
from vfrepro.deep.models import build_model
from vfrepro.deep.tasks import Detection, MultiInstance, MultiLabel, SingleLabel, use_channels_last
from vfrepro.deep.train import TrainConfig, predict, train_model

torch.set_num_threads(1)


def images(n, seed=0, size=12):
    """Noise images; `top`/`bottom` say where a bright patch was planted."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, size, size, generator=g) * 0.3
    top = torch.rand(n, generator=g) < 0.5
    bottom = torch.rand(n, generator=g) < 0.5
    x[top, :, 1:5, 3:9] += 1.0
    x[bottom, :, 7:11, 3:9] += 1.0
    return x, top.long(), bottom.long()


def encoder(out, seed=0):
    torch.manual_seed(seed)
    # Flatten keeps position: the signal is where the patch is (top or bottom half).
    return nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, out))


def test_single_label_learns_planted_signal():
    x, top, _ = images(48)
    ds = ArrayDataset(x, top)
    res = train_model(encoder(2), ds, TrainConfig(epochs=25, batch_size=8, lr=0.03, seed=0, progress=False,
                                                  class_weights="balanced"), task=SingleLabel(2))
    p = predict(res.model, ds, task=SingleLabel(2))
    assert p.shape == (48, 2) and (p.argmax(1) == top.numpy()).mean() == 1.0
    assert res.history[-1]["train_loss"] < 0.5 * res.history[0]["train_loss"]


class Recording(ArrayDataset):
    seen: list

    def __getitem__(self, i):
        self.seen.append(int(i))
        return super().__getitem__(i)


def test_multi_label_with_caller_sampling_weights():
    x, top, bottom = images(48, seed=1)
    y = torch.stack([top, bottom], 1).float()
    ds = Recording(x, y)
    ds.seen = []
    w = np.ones(48)
    w[:8] = 0.0  # never drawn
    task = MultiLabel(2)
    res = train_model(encoder(2), ds, TrainConfig(epochs=25, batch_size=8, lr=0.03, seed=0, progress=False),
                      task=task, sample_weights=w)
    assert ds.seen and min(ds.seen) >= 8
    p = predict(res.model, ArrayDataset(x, y), task=task)
    assert p.shape == (48, 2) and ((p >= 0.5) == (y.numpy() >= 0.5)).mean() > 0.95
    assert res.history[-1]["train_accuracy"] > 0.95
    with pytest.raises(ValueError, match="sampling weights"):
        train_model(encoder(2), ds, TrainConfig(epochs=1, progress=False), task=task, sample_weights=w[:5])


class BagNet(nn.Module):
    """Instance encoder on [B*N, C, H, W]; bag logits from the max over instances."""

    def __init__(self):
        super().__init__()
        self.enc = encoder(2)

    def forward(self, x):
        b, n = x.shape[:2]
        inst = self.enc(x.flatten(0, 1)).view(b, n, 2)
        return {"bag": inst.max(1).values, "instance": inst}


def test_mil_bags_two_heads_weighted_losses():
    x, top, _ = images(4 * 40, seed=2)
    bags, inst = x.view(40, 4, 1, 12, 12), top.view(40, 4)
    targets = {"bag": inst.max(1).values, "instance": inst}
    ds = ArrayDataset(bags, targets)
    task = MultiInstance({"bag": ("ce", 1.0), "instance": ("ce", 0.5)}, monitor="bag")
    res = train_model(BagNet(), ds, TrainConfig(epochs=20, batch_size=8, lr=0.03, seed=0, progress=False),
                      task=task)
    h = res.history
    assert {"train_loss_bag", "train_loss_instance"} <= set(h[0])
    assert h[-1]["train_loss"] == pytest.approx(h[-1]["train_loss_bag"] + 0.5 * h[-1]["train_loss_instance"])
    assert h[-1]["train_loss"] < 0.5 * h[0]["train_loss"]
    p = predict(res.model, ds, task=task)
    assert p.shape == (40, 2) and (p.argmax(1) == targets["bag"].numpy()).mean() >= 0.95


def test_channels_last_only_for_4d():
    cuda = torch.device("cuda")
    assert use_channels_last(torch.zeros(2, 3, 8, 8), cuda, True)
    assert not use_channels_last(torch.zeros(2, 4, 3, 8, 8), cuda, True)  # a bag
    assert not use_channels_last(torch.zeros(2, 3, 8, 8), torch.device("cpu"), True)
    assert not use_channels_last(torch.zeros(2, 3, 8, 8), cuda, False)


def squares(n, seed=0, size=64):
    g = torch.Generator().manual_seed(seed)
    imgs, targets = [], []
    for _ in range(n):
        img = torch.rand(3, size, size, generator=g) * 0.2
        x0, y0 = (int(v) for v in torch.randint(4, size - 24, (2,), generator=g))
        img[:, y0:y0 + 20, x0:x0 + 20] = 1.0
        imgs.append(img)
        targets.append({"boxes": torch.tensor([[x0, y0, x0 + 20, y0 + 20]], dtype=torch.float32),
                        "labels": torch.tensor([1])})
    return imgs, targets


def test_detection_tiny_faster_rcnn_finds_bright_squares():
    from torchvision.ops import FrozenBatchNorm2d, box_iou
    from torchvision.transforms import v2 as T

    small = dict(rpn_pre_nms_top_n_train=300, rpn_post_nms_top_n_train=100, rpn_pre_nms_top_n_test=100,
                 rpn_post_nms_top_n_test=50, box_batch_size_per_image=64, rpn_batch_size_per_image=64)
    model, _ = build_model("fasterrcnn_resnet18", 2, seed=0, min_size=64, max_size=64,
                           anchor_sizes=(16, 32, 64, 128, 256), detector_options=small)
    # Random init: trainable BatchNorm (FrozenBatchNorm without loaded statistics does nothing).
    assert not any(isinstance(m, FrozenBatchNorm2d) for m in model.modules())
    assert all(p.requires_grad for p in model.parameters())
    imgs, targets = squares(6)
    ds = DetectionDataset(imgs, targets, transform=T.RandomHorizontalFlip(), train=True)
    task = Detection({"loss_box_reg": 0.5})
    res = train_model(model, ds, TrainConfig(epochs=12, batch_size=2, lr=0.01, optimizer="sgd", seed=0,
                                             progress=False), task=task)
    h = res.history
    parts = {k: v for k, v in h[-1].items() if k.startswith("train_loss_")}
    assert set(parts) == {f"train_loss_{k}" for k in ("loss_classifier", "loss_box_reg", "loss_objectness",
                                                     "loss_rpn_box_reg")}
    assert h[-1]["train_loss"] == pytest.approx(sum(parts.values()) - 0.5 * parts["train_loss_loss_box_reg"])
    assert h[0]["train_accuracy"] == ""
    assert np.mean([r["train_loss"] for r in h[-3:]]) < 0.75 * h[0]["train_loss"]
    dets = predict(res.model, DetectionDataset(imgs, targets), batch_size=3, task=task)
    assert len(dets) == 6 and all({"boxes", "scores", "labels"} <= set(d) for d in dets)
    found = [len(d["boxes"]) > 0 and box_iou(d["boxes"][:1], t["boxes"]).max().item() > 0.5
             for d, t in zip(dets, targets)]
    assert np.mean(found) >= 0.5


def test_array_dataset_factory_jitters_per_item_from_the_seeded_rng():
    from torchvision.transforms import v2 as T

    x, top, _ = images(10)
    ds = ArrayDataset(x, top, transform=T.RandomAffine(degrees=30), train=False)
    assert torch.equal(ds[0][0], x[0])                 # no jitter at evaluation
    sub = ds.subset(np.arange(4), train=True)          # the (index, train) -> Dataset factory
    assert len(sub) == 4 and torch.equal(sub.labels, top[:4])
    torch.manual_seed(0)
    a, b = sub[0][0], sub[0][0]
    torch.manual_seed(0)
    assert torch.equal(a, sub[0][0]) and not torch.equal(a, b)
    bags = ArrayDataset(x.view(5, 2, 1, 12, 12), {"bag": top[:5], "instance": top.view(5, 2)})
    assert bags[1][1]["instance"].shape == (2,) and bags.labels is None
    with pytest.raises(ValueError, match="differ in length"):
        ArrayDataset(x, top[:3])
