"""Backbone weights for torchvision's ResNet50 from local files: RadImageNet and ImageNet.

RadImageNet's official PyTorch release (``ResNet50.pt``) is the state dict of
``nn.Sequential(*list(resnet50.children())[:-1])`` under a ``backbone.`` prefix:

==================  =============
release key          torchvision
==================  =============
``backbone.0.*``     ``conv1.*``
``backbone.1.*``     ``bn1.*``
``backbone.4.*``     ``layer1.*``
``backbone.5.*``     ``layer2.*``
``backbone.6.*``     ``layer3.*``
``backbone.7.*``     ``layer4.*``
==================  =============

There is no ``fc``: the task head stays randomly initialised (as in liu2025_dlr). ImageNet
weights are torchvision's own ``resnet50`` state dict (its ``fc`` is dropped for the same
reason). Anything else fails with the list of missing (and unexpected) keys.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from vfrepro.errors import InputError

RADIMAGENET_MAP = {"backbone.0.": "conv1.", "backbone.1.": "bn1.", "backbone.4.": "layer1.",
                   "backbone.5.": "layer2.", "backbone.6.": "layer3.", "backbone.7.": "layer4."}
WHERE = {
    "radimagenet": "the RadImageNet PyTorch release ResNet50.pt (keys backbone.0/1/4-7.*), e.g. "
                   "resources/weights/RadImageNet_ResNet50.pt",
    "imagenet": "torchvision's resnet50 ImageNet state dict (torchvision.models.resnet50(weights="
                "'IMAGENET1K_V2').state_dict(), saved with torch.save), e.g. resources/weights/resnet50_imagenet.pth",
}


def _read_state(path: Path, kind: str, config_key: str) -> dict:
    if not path.is_file():
        raise InputError(
            f"{kind} weights not found. Put {WHERE[kind]} at this path (config {config_key}), or set "
            "liu2025_dlr.weights.init: random to run with randomly initialised backbones (reported as such)",
            path=str(path), field=config_key)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"cannot read {kind} weights ({type(exc).__name__}: {exc})", path=str(path),
                         field=config_key) from None
    for wrapper in ("state_dict", "model_state_dict", "model"):
        if isinstance(state, dict) and wrapper in state and isinstance(state[wrapper], dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise InputError(f"{kind} weights file does not hold a state dict of tensors", path=str(path),
                         field=config_key)
    return {k.removeprefix("module."): v for k, v in state.items()}


def _backbone_keys(model: nn.Module) -> set[str]:
    return {k for k in model.state_dict() if not k.startswith("fc.")}


def _load_checked(model: nn.Module, state: dict, kind: str, path: Path, config_key: str) -> None:
    want = _backbone_keys(model)
    missing = sorted(want - set(state))
    unexpected = sorted(set(state) - want)
    shape_bad = sorted(k for k in want & set(state) if tuple(state[k].shape) != tuple(model.state_dict()[k].shape))
    if missing or shape_bad:
        detail = []
        if missing:
            detail.append(f"{len(missing)} missing key(s): {', '.join(missing[:8])}" + (" ..." if len(missing) > 8 else ""))
        if shape_bad:
            detail.append(f"shape mismatch: {', '.join(shape_bad[:5])}")
        if unexpected:
            detail.append(f"{len(unexpected)} unexpected key(s), e.g. {', '.join(unexpected[:5])}")
        raise InputError(f"{kind} weights do not fit ResNet50 ({WHERE[kind]} expected): " + "; ".join(detail),
                         path=str(path), field=config_key)
    model.load_state_dict({k: state[k] for k in want}, strict=False)


def radimagenet_to_torchvision(state: dict) -> dict:
    """Rename the RadImageNet release's ``backbone.N.*`` keys to torchvision's names."""
    out = {}
    for k, v in state.items():
        for src, dst in RADIMAGENET_MAP.items():
            if k.startswith(src):
                out[dst + k[len(src):]] = v
                break
        else:
            out[k] = v  # kept so the key check can report it as unexpected
    return out


def load_radimagenet(model: nn.Module, path: str | Path, config_key: str = "liu2025_dlr.weights.radimagenet") -> nn.Module:
    """Load the RadImageNet release into a torchvision ResNet50 (fc untouched)."""
    path = Path(path)
    state = _read_state(path, "radimagenet", config_key)
    if not any(k.startswith("backbone.") for k in state):
        raise InputError("not the RadImageNet PyTorch release: no 'backbone.*' keys (found e.g. "
                         f"{', '.join(list(state)[:4])}); missing keys: " + ", ".join(sorted(RADIMAGENET_MAP)),
                         path=str(path), field=config_key)
    _load_checked(model, radimagenet_to_torchvision(state), "radimagenet", path, config_key)
    return model


def load_imagenet(model: nn.Module, path: str | Path, config_key: str = "liu2025_dlr.weights.imagenet") -> nn.Module:
    """Load torchvision's ImageNet resnet50 state dict (its fc is ignored)."""
    path = Path(path)
    state = _read_state(path, "imagenet", config_key)
    _load_checked(model, state, "imagenet", path, config_key)
    return model
