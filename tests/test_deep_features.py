"""ResNet50 deep transfer features: weight loaders (RadImageNet / ImageNet layouts), inputs, extraction."""

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import torch
from torchvision.models.resnet import Bottleneck, ResNet

from vfrepro.deep.models import RADIMAGENET_MAP, load_weights
from vfrepro.deep.resnet_features import DeepConfig, build_resnet50, extract, roi_slices, run
from vfrepro.errors import InputError


def tiny_resnet():
    """A ResNet50-shaped network (same key names) small enough for test weight files."""
    torch.manual_seed(0)
    return ResNet(Bottleneck, [1, 1, 1, 1], width_per_group=4)


def _radimagenet_state(model):
    inv = {v: k for k, v in RADIMAGENET_MAP.items()}
    out = {}
    for k, v in model.state_dict().items():
        if k.startswith("fc."):
            continue
        pre = next(p for p in inv if k.startswith(p))
        out[inv[pre] + k[len(pre):]] = v.clone()
    return out


def test_radimagenet_release_layout_loads(tmp_path):
    src = tiny_resnet()
    path = tmp_path / "RadImageNet_ResNet50.pt"
    torch.save(_radimagenet_state(src), path)
    assert all(k.split(".")[1] in {"0", "1", "4", "5", "6", "7"} for k in torch.load(path))
    dst = ResNet(Bottleneck, [1, 1, 1, 1], width_per_group=4)
    load_weights(dst, "resnet50", path, layout="radimagenet")
    assert torch.equal(dst.layer4[0].conv3.weight, src.layer4[0].conv3.weight)
    assert torch.equal(dst.bn1.running_mean, src.bn1.running_mean)
    assert not torch.equal(dst.fc.weight, src.fc.weight)  # the task head stays random


def test_imagenet_layout_loads_and_ignores_fc(tmp_path):
    src = tiny_resnet()
    path = tmp_path / "resnet50_imagenet.pth"
    torch.save(src.state_dict(), path)
    dst = ResNet(Bottleneck, [1, 1, 1, 1], width_per_group=4)
    load_weights(dst, "resnet50", path, layout="torchvision")
    assert torch.equal(dst.conv1.weight, src.conv1.weight)
    auto = ResNet(Bottleneck, [1, 1, 1, 1], width_per_group=4)  # "auto" takes either layout
    load_weights(auto, "resnet50", path)
    assert torch.equal(auto.conv1.weight, src.conv1.weight)


def test_incomplete_or_foreign_files_report_missing_keys(tmp_path):
    src = tiny_resnet()
    state = {k: v for k, v in _radimagenet_state(src).items() if not k.startswith("backbone.7.")}
    path = tmp_path / "partial.pt"
    torch.save(state, path)
    with pytest.raises(InputError, match=r"missing key\(s\): layer4") as e:
        load_weights(tiny_resnet(), "resnet50", path, config_key="liu2025_dlr.weights.radimagenet")
    assert e.value.field == "liu2025_dlr.weights.radimagenet" and str(path) in str(e.value)
    torch.save(src.state_dict(), tmp_path / "imagenet.pth")
    with pytest.raises(InputError, match="backbone"):
        load_weights(tiny_resnet(), "resnet50", tmp_path / "imagenet.pth", layout="radimagenet")
    torch.save({"weird.key": torch.zeros(1)}, tmp_path / "weird.pth")
    with pytest.raises(InputError, match="missing key"):
        load_weights(tiny_resnet(), "resnet50", tmp_path / "weird.pth", layout="torchvision")


def test_missing_file_says_where_to_put_it(tmp_path):
    missing = tmp_path / "weights" / "RadImageNet_ResNet50.pt"
    with pytest.raises(InputError, match=r"Put .*RadImageNet.* at this path") as e:
        build_resnet50(DeepConfig(backbone="radimagenet", init="pretrained", weights=str(missing)))
    assert str(missing) in str(e.value) and "init: random" in str(e.value)
    assert e.value.field == "liu2025_dlr.weights.radimagenet"
    with pytest.raises(InputError, match="no imagenet weights file"):
        build_resnet50(DeepConfig(backbone="imagenet", init="pretrained", weights=""))


def test_roi_slices_are_zscored_64px_three_channels():
    rng = np.random.default_rng(0)
    img = rng.normal(300, 50, (20, 50, 50)).astype(np.float32)
    mask = np.zeros(img.shape, bool)
    mask[5:15, 10:40, 15:35] = True
    x = roi_slices(img, mask, n_slices=3, size=64)
    assert x.shape == (3, 3, 64, 64)
    assert np.allclose(x[:, 0], x[:, 2]) and abs(x.mean()) < 0.3 and 0.5 < x.std() < 1.5


def _tiny_cohort(tmp_path, n=6, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        img = rng.normal(100 + 100 * (i % 3), 30, (16, 32, 32)).astype(np.float32)
        lab = np.zeros(img.shape, np.uint8)
        lab[4:12, 8:24, 8:24] = 20
        for arr, nm in ((img, f"i{i}.nii.gz"), (lab, f"m{i}.nii.gz")):
            sitk.WriteImage(sitk.GetImageFromArray(arr), str(tmp_path / nm))
        rows.append({"case_id": f"c{i:010d}", "mask_label": 20, "split": "train" if i < 4 else "internal",
                     "label": i % 3, "image": str(tmp_path / f"i{i}.nii.gz"), "mask": str(tmp_path / f"m{i}.nii.gz")})
    return pd.DataFrame(rows)


def test_run_gives_2048_finite_features_and_skips_bad_rows(tmp_path):
    table = _tiny_cohort(tmp_path, n=4)
    table.loc[3, "mask"] = str(tmp_path / "absent.nii.gz")
    logs = []
    out = run(table, DeepConfig(n_slices=1, size=32, seed=1), tmp_path / "f.csv", tmp_path / "m.json", "label", logs.append)
    assert out.shape == (3, 2 + 2048)
    assert np.isfinite(out.filter(like="dtl_").to_numpy()).all()
    assert any("skipped" in m and table.loc[3, "case_id"] in m for m in logs)
