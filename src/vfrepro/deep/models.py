"""torchvision networks: the one builder and the one local-weights loader of the CNN engine.

No network access: pretrained weights come only from a local file named in config
(``<study>.weights.<arch>``), e.g. torchvision's ImageNet ``resnet18-f37072fd.pth``, or the
RadImageNet PyTorch release for ResNet50 (see :data:`RADIMAGENET_MAP`). Without a file the model
is randomly initialised (seeded), and every output of a branch says so.

Classifiers: resnet18/34/50, vgg11/16/16_bn, densenet121, mobilenet_v2 (torchvision's network,
final linear layer replaced) and alexnet (its convolutional ``features`` + global average pool +
a new linear ``fc``: a CAM-able instance encoder for multiple-instance studies). Detectors:
``fasterrcnn_resnet18`` / ``fasterrcnn_mobilenet_v2`` (torchvision Faster R-CNN with an FPN on
that backbone, or ``fpn=False``: one stride-16 map; trainable BatchNorm, since FrozenBatchNorm
without loaded statistics is a no-op).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision import models as tvm
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import _mobilenet_extractor, _resnet_fpn_extractor

from ..errors import InputError

__all__ = ["ARCHS", "RADIMAGENET_MAP", "build_model", "load_weights", "replace_head", "freeze",
           "head_module", "feature_layer_name", "n_trainable", "family", "frozen_bn_eval"]

# Architecture -> family; the family decides where the head and the last feature maps are.
ARCHS = {
    "resnet18": "resnet", "resnet34": "resnet", "resnet50": "resnet",
    "vgg11": "vgg", "vgg16": "vgg", "vgg16_bn": "vgg",
    "densenet121": "densenet", "mobilenet_v2": "mobilenet", "alexnet": "alexnet",
    "fasterrcnn_resnet18": "detection", "fasterrcnn_mobilenet_v2": "detection",
}
# Module (dotted name) whose output are the last feature maps, per family (CAM default).
FEATURE_LAYER = {"resnet": "layer4", "vgg": "features", "densenet": "features",
                 "mobilenet": "features", "alexnet": "features"}
# Head parameters (dotted prefix) in this engine's models; a weights file may lack them.
HEAD_PREFIX = {"resnet": "fc.", "vgg": "classifier.6.", "densenet": "classifier.",
               "mobilenet": "classifier.1.", "alexnet": "fc."}
# Keys of torchvision's own file that the engine's model does not have (alexnet's FC stack).
FILE_ONLY_PREFIX = {"alexnet": ("classifier.",)}

# RadImageNet's PyTorch release (ResNet50.pt) is the state dict of
# nn.Sequential(*list(resnet50.children())[:-1]) under a "backbone." prefix, without fc.
RADIMAGENET_MAP = {"backbone.0.": "conv1.", "backbone.1.": "bn1.", "backbone.4.": "layer1.",
                   "backbone.5.": "layer2.", "backbone.6.": "layer3.", "backbone.7.": "layer4."}
LAYOUTS = ("auto", "torchvision", "radimagenet")


def family(arch: str) -> str:
    if arch not in ARCHS:
        raise InputError(f"unknown architecture '{arch}'; known: {sorted(ARCHS)}", field="arch")
    return ARCHS[arch]


class FeaturesHead(nn.Module):
    """``features`` -> global average pool -> linear ``fc`` (the alexnet encoder + new head)."""

    def __init__(self, features: nn.Module, channels: int, num_classes: int):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))


def head_module(model: nn.Module, arch: str) -> nn.Module:
    """The final layer (the classifier whose weights a CAM uses; the detector's box predictor)."""
    fam = family(arch)
    if fam == "detection":
        return model.roi_heads.box_predictor
    return model.get_submodule(HEAD_PREFIX[fam].rstrip("."))


def feature_layer_name(arch: str) -> str:
    fam = family(arch)
    if fam not in FEATURE_LAYER:
        raise InputError(f"no default feature layer for {arch}; name one", field="target_layer")
    return FEATURE_LAYER[fam]


def replace_head(model: nn.Module, arch: str, num_classes: int) -> nn.Module:
    """Swap the ImageNet 1000-way layer for a fresh ``num_classes`` one (seeded by the caller)."""
    name = HEAD_PREFIX[family(arch)].rstrip(".")
    parent, _, leaf = name.rpartition(".")
    old = model.get_submodule(name)
    setattr(model.get_submodule(parent) if parent else model, leaf, nn.Linear(old.in_features, num_classes))
    return model


def _read_state(path: Path, arch: str, config_key: str, hint: str | None) -> dict:
    if not path.is_file():
        where = hint or (f"the torchvision state dict (e.g. {arch}-<hash>.pth from a machine with internet: "
                         f"torchvision.models.{arch}(weights='DEFAULT').state_dict())")
        raise InputError(f"pretrained weights for {arch} not found. Put {where} at this path, or set "
                         f"config '{config_key}' to where it is, or leave it empty (init: random) for "
                         "random initialisation", path=str(path), field=config_key)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle / zip errors: name the file
        raise InputError(f"cannot read weights file ({type(exc).__name__}: {exc})", path=str(path),
                         field=config_key) from exc
    for wrapper in ("state_dict", "model_state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise InputError("weights file does not hold a state dict of tensors", path=str(path),
                         field=config_key)
    return {k.removeprefix("module."): v for k, v in state.items()}


def _from_radimagenet(state: dict) -> dict:
    out = {}
    for k, v in state.items():
        src = next((s for s in RADIMAGENET_MAP if k.startswith(s)), None)
        out[RADIMAGENET_MAP[src] + k[len(src):] if src else k] = v  # unknown keys: reported below
    return out


def _listed(keys, n=8):
    return ", ".join(keys[:n]) + (" ..." if len(keys) > n else "")


def load_weights(model: nn.Module, arch: str, path: str | Path, config_key: str = "weights",
                 layout: str = "auto", hint: str | None = None) -> nn.Module:
    """Load a local state dict into the backbone of ``model`` (a classifier of family ``arch``).

    ``layout``: "torchvision" (the file of ``torchvision.models.<arch>``; its head, and alexnet's
    FC stack, are ignored), "radimagenet" (resnet50 only: keys ``backbone.0/1/4-7.*``) or "auto"
    (RadImageNet when the keys say so). Raises InputError naming the file and ``config_key`` when
    the file is missing (``hint`` says what to put there), unreadable, or its keys/shapes do not
    fit; missing keys are named.
    """
    path = Path(path)
    fam = family(arch)
    if layout not in LAYOUTS:
        raise ValueError(f"weights layout must be one of {LAYOUTS}, got {layout!r}")
    state = _read_state(path, arch, config_key, hint)
    is_rad = any(k.startswith("backbone.") for k in state)
    if layout == "radimagenet" and not is_rad:
        raise InputError("not the RadImageNet PyTorch release: no 'backbone.*' keys (found e.g. "
                         f"{_listed(list(state), 4)}); missing keys: {_listed(sorted(RADIMAGENET_MAP))}",
                         path=str(path), field=config_key)
    if is_rad and layout != "torchvision" and arch == "resnet50":
        state = _from_radimagenet(state)
    drop = FILE_ONLY_PREFIX.get(arch, ()) + (HEAD_PREFIX[fam],)
    state = {k: v for k, v in state.items() if not k.startswith(drop)}
    own = {k: v for k, v in model.state_dict().items() if not k.startswith(HEAD_PREFIX[fam])}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shape = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
             for k in sorted(set(state) & set(own)) if state[k].shape != own[k].shape]
    if missing or unexpected or shape:
        detail = []
        if missing:
            detail.append(f"{len(missing)} missing key(s): {_listed(missing)}")
        if unexpected:
            detail.append(f"{len(unexpected)} unexpected key(s): {_listed(unexpected, 5)}")
        if shape:
            detail.append(f"shape mismatch {_listed(shape, 3)}")
        raise InputError(f"weights file does not fit {arch}: " + "; ".join(detail), path=str(path),
                         field=config_key)
    model.load_state_dict(state, strict=False)
    return model


def freeze(model: nn.Module, arch: str, trainable: list[str] | str = "all") -> nn.Module:
    """Freeze everything except the named modules (and always the head).

    ``trainable`` is "all", or a list of module name prefixes, e.g. ``["layer4"]`` (ResNet18:
    its last two residual blocks, the two BasicBlocks layer4.0 and layer4.1) or ``["features.24",
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


def frozen_bn_eval(model: nn.Module) -> list[str]:
    """Put every BatchNorm layer whose parameters are all frozen into eval mode (call after
    ``model.train()``): it then normalises with its stored running statistics and does not
    update them, so a frozen block stays the pretrained block. Gives the names switched."""
    names = []
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            ps = list(m.parameters(recurse=False))
            if ps and not any(p.requires_grad for p in ps):
                m.eval()
                names.append(name)
    return names


def _classifier(arch: str) -> nn.Module:
    if arch == "alexnet":
        return FeaturesHead(tvm.alexnet(weights=None).features, 256, 1000)
    return getattr(tvm, arch)(weights=None)


def _single_map(backbone: nn.Module, name: str) -> nn.Module:
    """The backbone up to its last stride-16 stage, one feature map (the MATLAB Faster R-CNN's
    layout: ResNet18 'res4b_relu' = layer3, 256 channels; MobileNetV2 'block_13_expand_relu' ~
    features[:14], 96 channels)."""
    if name == "resnet18":
        body = nn.Sequential(backbone.conv1, backbone.bn1, backbone.relu, backbone.maxpool,
                             backbone.layer1, backbone.layer2, backbone.layer3)
        body.out_channels = 256
    else:
        body = nn.Sequential(*list(backbone.features)[:14])
        body.out_channels = 96
    return body


def _detector(backbone: nn.Module, name: str, num_classes: int, min_size: int, max_size: int,
              anchor_sizes: tuple, options: dict, fpn: bool = True) -> nn.Module:
    if not fpn:
        anchors = AnchorGenerator((tuple(anchor_sizes),), ((0.5, 1.0, 2.0),))
        return FasterRCNN(_single_map(backbone, name), num_classes=num_classes, min_size=min_size,
                          max_size=max_size, rpn_anchor_generator=anchors, **options)
    if name == "resnet18":
        body = _resnet_fpn_extractor(backbone, trainable_layers=5)
        n_maps = 5  # layer1-4 + the FPN's max-pool level
        anchors = AnchorGenerator(tuple((s,) for s in anchor_sizes[:n_maps]), ((0.5, 1.0, 2.0),) * n_maps)
    else:
        body = _mobilenet_extractor(backbone, fpn=True, trainable_layers=0)
        n_maps = 3  # the last two stages + max-pool level, each with every anchor size
        anchors = AnchorGenerator((tuple(anchor_sizes),) * n_maps, ((0.5, 1.0, 2.0),) * n_maps)
    return FasterRCNN(body, num_classes=num_classes, min_size=min_size, max_size=max_size,
                      rpn_anchor_generator=anchors, **options)


def build_model(arch: str, num_classes: int, weights: str | None = None, trainable="all",
                seed: int = 0, weights_key: str = "weights", layout: str = "auto",
                weights_hint: str | None = None, min_size: int = 800, max_size: int = 1333,
                anchor_sizes: tuple = (32, 64, 128, 256, 512),
                detector_options: dict | None = None, fpn: bool = True) -> tuple[nn.Module, str]:
    """Build ``arch`` with a ``num_classes`` head (detectors: classes including background).

    Gives (model, init) where init says how the backbone was initialised ("random (seed S ...)"
    or "pretrained: <file>"). ``weights`` (a local file, see :func:`load_weights`) initialises
    the backbone; the head is always new. Detectors take the backbone classifier's file and
    ``min_size``/``max_size`` (torchvision's resize transform), ``anchor_sizes`` and any other
    :class:`~torchvision.models.detection.FasterRCNN` keyword in ``detector_options``;
    ``fpn=False`` gives one stride-16 feature map instead of an FPN (every anchor size on it).
    """
    fam = family(arch)
    torch.manual_seed(seed)
    base = arch.removeprefix("fasterrcnn_")
    model = _classifier(base)
    if weights:
        load_weights(model, base, weights, weights_key, layout, weights_hint)
        init = f"pretrained: {Path(weights).name}"
    else:
        init = f"random (seed {seed}; no weights file in config)"
    torch.manual_seed(seed + 1)
    if fam == "detection":
        model = _detector(model, base, num_classes, min_size, max_size, anchor_sizes, detector_options or {},
                          fpn)
    else:
        replace_head(model, arch, num_classes)
    freeze(model, arch, trainable)
    return model, init


def n_trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
