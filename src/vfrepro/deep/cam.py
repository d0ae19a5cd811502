"""Class activation maps on a target layer named by a string (default per architecture family).

For a network that ends in global average pooling + one linear layer (ResNet, DenseNet,
MobileNetV2, the alexnet encoder) and the family's default layer, this is Zhou et al.'s CAM
exactly: ``CAM_c = sum_k w[c, k] * F_k``. Elsewhere (VGG16's three FC layers, any other layer
such as "layer3" or "features.28") the weights are the spatially averaged gradients of the class
score with respect to that layer's output (Grad-CAM), which equals CAM in the GAP + linear case.
Maps are upsampled to the input size and scaled to [0, 1].
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .models import family, feature_layer_name, head_module

__all__ = ["class_activation_maps"]

_GAP_LINEAR = {"resnet", "densenet", "mobilenet", "alexnet"}


def class_activation_maps(model: nn.Module, arch: str | None, x: torch.Tensor,
                          target: torch.Tensor | None = None,
                          target_layer: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """CAMs for a batch ``x`` (n, 3, H, W) on CPU. Gives (maps (n, H, W) in [0, 1], class used).

    ``target`` defaults to the predicted class; ``target_layer`` (a dotted module name) to the
    family's last feature maps. ``arch`` may be None for any classifier with a ``target_layer``
    (Grad-CAM then).
    """
    model = model.cpu().eval()
    if target_layer is None:
        if arch is None:
            raise ValueError("class_activation_maps needs arch or target_layer")
        target_layer = feature_layer_name(arch)
    fam = family(arch) if arch is not None else None
    exact_cam = fam in _GAP_LINEAR and target_layer == feature_layer_name(arch)
    feats = {}
    h = model.get_submodule(target_layer).register_forward_hook(lambda m, i, o: feats.__setitem__("f", o))
    try:
        with torch.enable_grad():
            logits = model(x)
        cls = logits.argmax(1) if target is None else torch.as_tensor(target)
        f = feats["f"]
        if exact_cam:
            if fam == "densenet":  # densenet applies its final ReLU after `features`
                f = torch.relu(f)
            w = head_module(model, arch).weight[cls]            # (n, C)
            cam = torch.einsum("nc,nchw->nhw", w, f)
        else:
            grads = torch.autograd.grad(logits.gather(1, cls[:, None]).sum(), f)[0]
            cam = (grads.mean(dim=(2, 3), keepdim=True) * f).sum(1)
        cam = torch.relu(cam).detach()
    finally:
        h.remove()
    cam = nn.functional.interpolate(cam[:, None], size=x.shape[-2:], mode="bilinear",
                                    align_corners=False)[:, 0]
    lo = cam.flatten(1).min(1).values[:, None, None]
    hi = cam.flatten(1).max(1).values[:, None, None]
    cam = (cam - lo) / torch.clamp(hi - lo, min=1e-12)
    return cam.numpy(), cls.numpy()
