"""rosenberg_xray's transfer-learning reading and augmentation: the paper preset retrains ResNet18's
last two residual blocks (layer4's two BasicBlocks), frozen BatchNorm layers can keep their running
statistics, and rotation/shift resample bilinearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import yaml
from torchvision.transforms import v2 as T

from vfrepro.deep.data import ArrayDataset, CropDataset, CropSpec
from vfrepro.deep.models import build_model, frozen_bn_eval
from vfrepro.deep.tasks import SingleLabel
from vfrepro.deep.train import TrainConfig, train_model

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]


def _paper_trainable():
    preset = yaml.safe_load((ROOT / "workflow" / "presets" / "paper.yaml").read_text())
    return preset["rosenberg_xray"]["trainable"]["resnet18"], preset["rosenberg_xray"]["train"]


def test_paper_preset_retrains_the_two_basicblocks_of_layer4():
    trainable, train = _paper_trainable()
    model, _ = build_model("resnet18", 2, None, trainable)
    on = {n.split(".")[0] + ("." + n.split(".")[1] if n.startswith("layer") else "")
          for n, p in model.named_parameters() if p.requires_grad}
    # exactly the two residual blocks of the last stage, plus the new head
    assert on == {"layer4.0", "layer4.1", "fc"}
    assert len(model.layer4) == 2 and type(model.layer4[0]).__name__ == "BasicBlock"
    assert train["freeze_bn_stats"] is True


def _bn_state(model, prefix):
    return {k: v.clone() for k, v in model.state_dict().items() if k.startswith(prefix)}


def _fit(freeze_bn_stats: bool):
    model, _ = build_model("resnet18", 2, None, ["layer4"], seed=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 3, 32, 32, generator=g) * 2 + 1  # far from the init stats (0, 1)
    y = torch.arange(16) % 2
    cfg = TrainConfig(epochs=2, batch_size=8, lr=1e-2, device="cpu", progress=False,
                      freeze_bn_stats=freeze_bn_stats)
    res = train_model(model, ArrayDataset(x, y), cfg, task=SingleLabel(2))
    return before, res.model.state_dict()


def test_frozen_parameters_and_bn_running_stats_do_not_change():
    before, after = _fit(freeze_bn_stats=True)
    frozen = [k for k in before if not k.startswith(("layer4.", "fc."))]
    assert any("running_mean" in k for k in frozen) and any("conv1.weight" == k for k in frozen)
    changed = [k for k in frozen if not torch.equal(before[k], after[k])]
    assert changed == []                                  # weights, BN affine and BN buffers
    # the trainable blocks did train, and their BatchNorm kept updating its statistics
    assert not torch.equal(before["layer4.1.conv2.weight"], after["layer4.1.conv2.weight"])
    assert not torch.equal(before["layer4.0.bn1.running_mean"], after["layer4.0.bn1.running_mean"])


def test_without_the_option_frozen_bn_stats_drift():
    before, after = _fit(freeze_bn_stats=False)
    assert torch.equal(before["conv1.weight"], after["conv1.weight"])      # still frozen weights
    assert not torch.equal(before["bn1.running_mean"], after["bn1.running_mean"])  # stats moved


def test_frozen_bn_eval_switches_only_frozen_batchnorm():
    model, _ = build_model("resnet18", 2, None, ["layer4"])
    model.train()
    names = frozen_bn_eval(model)
    assert "bn1" in names and "layer3.1.bn2" in names and not any(n.startswith("layer4") for n in names)
    assert not model.bn1.training and model.layer4[0].bn1.training


def test_rotation_and_shift_resample_bilinearly():
    spec = CropSpec(size=32, rotation_deg=20, shift=0.1)
    step = torch.zeros(1, 1, 32, 32, dtype=torch.uint8)
    step[..., 16:] = 200                                    # a two-valued edge
    ds = CropDataset(step, np.array([0]), spec, train=True)
    affine = [t for t in ds.aug.transforms if isinstance(t, T.RandomAffine)]
    assert len(affine) == 1 and affine[0].interpolation == T.InterpolationMode.BILINEAR
    torch.manual_seed(0)
    out = ds.aug(step[0])
    # bilinear gives intermediate grey values along the rotated edge; nearest would keep {0, 200}
    assert len(set(out.unique().tolist()) - {0, 200}) > 3
    torch.manual_seed(0)
    nearest = T.RandomAffine(degrees=20, translate=(0.1, 0.1))(step[0])
    assert set(nearest.unique().tolist()) <= {0, 200}
