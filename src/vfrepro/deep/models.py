"""torchvision classifiers: build, load local backbone weights, replace the head, freeze by config.

No network access: pretrained weights come only from a local file named in config
(``<study>.weights.<arch>``), e.g. torchvision's ImageNet ``resnet18-f37072fd.pth``.
Without a file the model is randomly initialised, and every output of a branch says so.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision import models as tvm

from ..errors import InputError

__all__ = ["ARCHS", "build_model", "load_backbone_weights", "replace_head", "freeze", "head_module",
           "feature_layer", "n_trainable"]

# Architectures the engine knows: family decides where the head and the last feature maps are.
ARCHS = {
    "resnet18": "resnet", "resnet34": "resnet", "resnet50": "resnet",
    "vgg11": "vgg", "vgg16": "vgg", "vgg16_bn": "vgg",
    "densenet121": "densenet",
}


def _family(arch: str) -> str:
    if arch not in ARCHS:
        raise InputError(f"unknown architecture '{arch}'; known: {sorted(ARCHS)}", field="arch")
    return ARCHS[arch]


def head_module(model: nn.Module, arch: str) -> nn.Linear:
    """The final fully connected layer (the classifier whose weights a CAM uses)."""
    fam = _family(arch)
    if fam == "resnet":
        return model.fc
    if fam == "vgg":
        return model.classifier[-1]
    return model.classifier


def feature_layer(model: nn.Module, arch: str) -> nn.Module:
    """The module whose output are the last convolutional feature maps (for CAMs)."""
    fam = _family(arch)
    if fam == "resnet":
        return model.layer4
    return model.features


def replace_head(model: nn.Module, arch: str, num_classes: int) -> nn.Module:
    """Swap the ImageNet 1000-way layer for a fresh ``num_classes`` one (seeded by the caller)."""
    fam = _family(arch)
    old = head_module(model, arch)
    new = nn.Linear(old.in_features, num_classes)
    if fam == "resnet":
        model.fc = new
    elif fam == "vgg":
        model.classifier[-1] = new
    else:
        model.classifier = new
    return model


def load_backbone_weights(model: nn.Module, arch: str, path: str | Path, config_key: str = "weights"):
    """Load a local state dict into a model that still has its original (1000-way) head.

    Raises InputError naming the file and the config key when the file is missing, is not a
    state dict, or its keys/shapes do not fit ``arch`` (head keys may be absent: a backbone-only
    file is fine).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"pretrained weights for {arch} not found. Put the torchvision state dict (e.g. "
            f"{arch}-<hash>.pth from a machine with internet: "
            f"torchvision.models.{arch}(weights='DEFAULT').state_dict()) at this path, or set "
            f"config '{config_key}' to where it is, or leave it empty for random initialisation",
            path=str(path), field=config_key)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle / zip errors: name the file
        raise InputError(f"cannot read weights file ({type(exc).__name__}: {exc})", path=str(path),
                         field=config_key) from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise InputError("weights file does not hold a state dict of tensors", path=str(path),
                         field=config_key)
    own = model.state_dict()
    head_prefix = {"resnet": "fc.", "vgg": "classifier.6.", "densenet": "classifier."}[_family(arch)]
    missing = [k for k in own if k not in state and not k.startswith(head_prefix)]
    unexpected = [k for k in state if k not in own]
    shape = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
             for k in state if k in own and state[k].shape != own[k].shape
             and not k.startswith(head_prefix)]
    if missing or unexpected or shape:
        detail = []
        if missing:
            detail.append(f"missing keys {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            detail.append(f"unexpected keys {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        if shape:
            detail.append(f"shape mismatch {shape[:3]}")
        raise InputError(f"weights file does not fit {arch}: " + "; ".join(detail), path=str(path),
                         field=config_key)
    keep = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    model.load_state_dict(keep, strict=False)
    return model


def freeze(model: nn.Module, arch: str, trainable: list[str] | str = "all") -> nn.Module:
    """Freeze everything except the named top-level children (and always the head).

    ``trainable`` is "all", or a list of module name prefixes, e.g. ``["layer3", "layer4"]``
    (ResNet18: the last two residual blocks, as rosenberg_xray) or ``["features.24",
    "classifier"]`` (VGG16: last conv block and the classifier). A name that matches no
    parameter is an error, so a typo in config cannot silently freeze the whole network.
    """
    if trainable == "all" or trainable == ["all"]:
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    names = list(trainable)
    hit = {n: False for n in names}
    head_ids = {id(p) for p in head_module(model, arch).parameters()}
    for pname, p in model.named_parameters():
        on = id(p) in head_ids
        for n in names:
            if pname == n or pname.startswith(n + "."):
                on = True
                hit[n] = True
        p.requires_grad_(on)
    bad = [n for n, h in hit.items() if not h]
    if bad:
        raise InputError(f"trainable layer name(s) {bad} match no parameter of {arch}; top-level "
                         f"modules are {[n for n, _ in model.named_children()]}", field="trainable")
    return model


def build_model(arch: str, num_classes: int, weights: str | None = None, trainable="all",
                seed: int = 0, weights_key: str = "weights") -> tuple[nn.Module, str]:
    """Build ``arch`` with a ``num_classes`` head. Gives (model, init) where init says how the
    backbone was initialised ("random (seed S)" or "pretrained: <file>")."""
    _family(arch)
    torch.manual_seed(seed)
    model = getattr(tvm, arch)(weights=None)
    if weights:
        load_backbone_weights(model, arch, weights, weights_key)
        init = f"pretrained: {Path(weights).name}"
    else:
        init = f"random (seed {seed}; no weights file in config)"
    torch.manual_seed(seed + 1)
    replace_head(model, arch, num_classes)
    freeze(model, arch, trainable)
    return model, init


def n_trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
