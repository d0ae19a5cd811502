"""One builder, one weights loader, CAM/Grad-CAM on a named layer, liu2025_dlr fine-tuning in the loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torchvision import models as tvm
from torchvision.models.resnet import Bottleneck, ResNet

from vfrepro.deep.cam import class_activation_maps
from vfrepro.deep.models import build_model, load_weights
from vfrepro.deep.resnet_features import DeepConfig, finetune
from vfrepro.errors import InputError

torch.set_num_threads(1)


@pytest.mark.parametrize("arch", ["alexnet", "mobilenet_v2"])
def test_torchvision_files_and_own_state_dicts_round_trip(tmp_path, arch):
    torch.manual_seed(1)
    src = getattr(tvm, arch)(weights=None)          # torchvision's own layout (1000-way head)
    torch.save(src.state_dict(), tmp_path / "tv.pth")
    m, init = build_model(arch, 3, str(tmp_path / "tv.pth"), seed=0)
    assert "pretrained" in init
    assert torch.equal(m.features[0].weight if arch == "alexnet" else m.features[0][0].weight,
                       src.features[0].weight if arch == "alexnet" else src.features[0][0].weight)
    assert m(torch.randn(2, 3, 64, 64)).shape == (2, 3)
    torch.save(m.state_dict(), tmp_path / "own.pth")  # the engine's layout (3-way head) loads too
    m2, _ = build_model(arch, 3, str(tmp_path / "own.pth"), seed=5)
    for k, v in m.state_dict().items():
        if not k.startswith(("fc.", "classifier.1.")):
            assert torch.equal(v, m2.state_dict()[k]), k
    bad = {k: v for k, v in src.state_dict().items() if not k.startswith("features.0.")}
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(InputError, match=r"missing key\(s\): features\.0\.") as e:
        build_model(arch, 3, str(tmp_path / "bad.pth"), weights_key=f"s.weights.{arch}")
    assert e.value.field == f"s.weights.{arch}" and e.value.path == str(tmp_path / "bad.pth")


def test_detector_backbone_takes_the_classifier_file(tmp_path):
    torch.manual_seed(2)
    src = tvm.resnet18(weights=None)
    torch.save(src.state_dict(), tmp_path / "r18.pth")
    det, init = build_model("fasterrcnn_resnet18", 2, str(tmp_path / "r18.pth"), min_size=96, max_size=128)
    assert "pretrained" in init
    assert torch.equal(det.backbone.body.layer4[1].conv2.weight, src.layer4[1].conv2.weight)
    assert det.transform.min_size == (96,) and det.transform.max_size == 128


def test_radimagenet_layout_only_for_resnet50(tmp_path):
    torch.manual_seed(0)
    small = ResNet(Bottleneck, [1, 1, 1, 1], width_per_group=4)
    state = {"backbone.0." + k[len("conv1."):]: v for k, v in small.state_dict().items() if k.startswith("conv1.")}
    torch.save(state, tmp_path / "rad.pt")
    with pytest.raises(InputError, match="missing key"):  # resnet18 never renames backbone.* keys
        load_weights(tvm.resnet18(weights=None), "resnet18", tmp_path / "rad.pt")


def test_grad_cam_matches_a_hand_computation():
    torch.manual_seed(0)
    net = nn.Sequential()
    net.add_module("conv", nn.Conv2d(3, 4, 3, padding=1))
    net.add_module("act", nn.ReLU())
    net.add_module("flat", nn.Flatten())
    net.add_module("fc", nn.Linear(4 * 6 * 6, 3))   # position-dependent weights: not a plain CAM
    x = torch.randn(2, 3, 6, 6)
    maps, cls = class_activation_maps(net, None, x, target_layer="act")
    # Hand: d score_c / d F_k(i,j) = W[c, k, i, j]; alpha_k = its spatial mean; relu(sum alpha_k F_k).
    with torch.no_grad():
        f = torch.relu(net.conv(x))
        c = net(x).argmax(1)
        alpha = net.fc.weight.view(3, 4, 6, 6)[c].mean(dim=(2, 3))
        cam = torch.relu((alpha[:, :, None, None] * f).sum(1))
        lo, hi = cam.flatten(1).min(1).values, cam.flatten(1).max(1).values
        ref = (cam - lo[:, None, None]) / (hi - lo)[:, None, None]
    assert np.array_equal(cls, c.numpy())
    np.testing.assert_allclose(maps, ref.numpy(), atol=1e-5)  # same size: interpolation is identity


def test_cam_on_named_layers_and_default_per_family():
    x = torch.randn(2, 3, 64, 64)
    for arch, layer in (("resnet18", "layer3"), ("vgg16", "features.28"), ("alexnet", None),
                        ("mobilenet_v2", None)):
        m = build_model(arch, 2, seed=0)[0]
        maps, cls = class_activation_maps(m, arch, x, target_layer=layer)
        assert maps.shape == (2, 64, 64) and 0 <= maps.min() and maps.max() <= 1 + 1e-6
    # On the default layer of a GAP + linear net, Grad-CAM equals CAM (up to the scale removed).
    m = build_model("resnet18", 2, seed=0)[0]
    cam, _ = class_activation_maps(m, "resnet18", x)
    grad, _ = class_activation_maps(m, None, x, target_layer="layer4")
    np.testing.assert_allclose(cam, grad, atol=1e-4)


def test_liu_finetune_runs_through_the_engine_loop():
    torch.manual_seed(0)
    X = np.random.default_rng(0).normal(size=(5, 1, 3, 32, 32)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1])
    cfg = DeepConfig(finetune_epochs=2, batch_size=4, seed=3, finetune_backbone=False, device="cpu")
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        m = ResNet(Bottleneck, [1, 1, 1, 1], width_per_group=4, num_classes=3)
        before = m.conv1.weight.clone()
        logs = []
        losses = finetune(m, X, y, cfg, logs.append)  # 5 samples, batch 4: the batch of 1 is skipped
        assert len(losses) == 2 and len(logs) == 2 and torch.equal(before, m.conv1.weight)
        runs.append((losses, m.fc.weight.detach().clone()))
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])
