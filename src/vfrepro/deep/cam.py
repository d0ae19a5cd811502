"""Class activation maps: the last feature maps weighted by the predicted class's FC weights.

For a network that ends in global average pooling + one linear layer (ResNet, DenseNet) this
is Zhou et al.'s CAM exactly: ``CAM_c = sum_k w[c, k] * F_k``. VGG16 has three FC layers after
the feature maps, so no single weight vector exists; there the weights are the spatially
averaged gradients of the class score (Grad-CAM), which equals CAM for the GAP + linear case.
Maps are upsampled to the input size and scaled to [0, 1].
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .models import ARCHS, feature_layer, head_module

__all__ = ["class_activation_maps"]


def class_activation_maps(model: nn.Module, arch: str, x: torch.Tensor,
                          target: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """CAMs for a batch ``x`` (n, 3, H, W) on CPU. Gives (maps (n, H, W) in [0, 1], class used).

    ``target`` defaults to the predicted class.
    """
    model = model.cpu().eval()
    feats = {}
    layer = feature_layer(model, arch)
    h = layer.register_forward_hook(lambda m, i, o: feats.__setitem__("f", o))
    try:
        if ARCHS[arch] == "vgg":
            with torch.enable_grad():
                logits = model(x)
                cls = logits.argmax(1) if target is None else target
                f = feats["f"]
                score = logits.gather(1, cls[:, None]).sum()
                grads = torch.autograd.grad(score, f)[0]
                w = grads.mean(dim=(2, 3), keepdim=True)
                cam = torch.relu((w * f).sum(1)).detach()
        else:
            with torch.no_grad():
                logits = model(x)
                cls = logits.argmax(1) if target is None else target
                f = feats["f"]
                if ARCHS[arch] == "densenet":
                    f = torch.relu(f)
                w = head_module(model, arch).weight[cls]          # (n, C)
                cam = torch.einsum("nc,nchw->nhw", w, f)
                cam = torch.relu(cam)
    finally:
        h.remove()
    cam = nn.functional.interpolate(cam[:, None], size=x.shape[-2:], mode="bilinear",
                                    align_corners=False)[:, 0]
    lo = cam.flatten(1).min(1).values[:, None, None]
    hi = cam.flatten(1).max(1).values[:, None, None]
    cam = (cam - lo) / torch.clamp(hi - lo, min=1e-12)
    return cam.numpy(), cls.numpy()
