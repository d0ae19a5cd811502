"""Gated-attention MIL model and losses of qu2025_mil.

backbone (e.g. torchvision alexnet().features) -> [adaptive pool + flatten when it gives maps]
-> feature layer (Linear + ReLU + Dropout, size from config) = H [B, N, L]
-> gated attention (Ilse et al. 2018): a_k = softmax_k(w^T (tanh(V h_k) * sigmoid(U h_k)))
-> bag embedding z = sum_k a_k h_k -> bag classifier (and, for Z, a super-class head);
an instance classifier on every h_k.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["GatedAttention", "GatedAttentionMIL", "alexnet_backbone", "DEFAULT_LOSS_WEIGHTS",
           "INSTANCE_TERMS", "CHOSEN", "instance_variance", "mil_loss"]

DEFAULT_LOSS_WEIGHTS: dict[str, float] = {"bag": 1.0, "super": 0.5, "instance": 0.5}
INSTANCE_TERMS = ("ce", "variance")

CHOSEN: list[tuple[str, str, str]] = [
    ("z_instance_term", "ce (cross-entropy on instance labels); 'variance' available",
     "the paper says every sub-loss is cross-entropy and its Z loader returns instance labels; "
     "a penalty on the variance of instance predictions pushes all slices to agree, against "
     "the MIL premise that only some slices show the fracture"),
    ("instance_target", "bag label on fracture slices, AZ on the others (6-class head)",
     "the instance classifier shares the bag's label space; unknown slices are ignored (-1)"),
    ("loss_weights", "bag 1.0, super 0.5, instance 0.5",
     "the paper weights the terms but gives no weights"),
    ("attention_dims", "feature L from config (default 128), attention D = 64",
     "Ilse et al. use L = 500, D = 128; scaled down for CPU; sizes not published"),
    ("backbone_pool", "adaptive average pool to 1 x 1 on AlexNet's 256 maps",
     "AlexNet's FC layers are removed; pooling keeps the feature layer small"),
]


class GatedAttention(nn.Module):
    """Ilse et al. (2018) gated attention: [B, N, L] -> weights [B, N] (softmax over N)."""

    def __init__(self, in_dim: int, attn_dim: int):
        super().__init__()
        self.V = nn.Linear(in_dim, attn_dim)
        self.U = nn.Linear(in_dim, attn_dim)
        self.w = nn.Linear(attn_dim, 1)

    def scores(self, h: torch.Tensor) -> torch.Tensor:
        """Unnormalised scores w^T (tanh(V h) * sigmoid(U h)) + b, [B, N]."""
        return self.w(torch.tanh(self.V(h)) * torch.sigmoid(self.U(h))).squeeze(-1)

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        s = self.scores(h)
        if mask is not None:
            s = s.masked_fill(~mask.bool(), float("-inf"))
        return torch.softmax(s, dim=-1)


def alexnet_backbone(weights_path: str | None = None) -> tuple[nn.Module, str]:
    """torchvision AlexNet's convolutional `features` (FC removed); weights from a local file when
    given (a full AlexNet state dict or one of `features`), else random init. Returns (module,
    'local weights <path>' or 'random init')."""
    from torchvision.models import alexnet
    net = alexnet(weights=None)
    if weights_path:
        sd = torch.load(weights_path, map_location="cpu", weights_only=True)
        feats = {k[len("features."):]: v for k, v in sd.items() if k.startswith("features.")} or sd
        net.features.load_state_dict(feats)
        return net.features, f"local weights {weights_path}"
    return net.features, "random init"


class GatedAttentionMIL(nn.Module):
    """MIL classifier over bags [B, N, 3, H, W].

    backbone: any module mapping [K, 3, H, W] to [K, F] or to feature maps [K, C, h, w] (then
    adaptive average pooled to `pool` and flattened). `in_features` is probed with a dummy input
    of `probe_size` when not given. forward returns a dict: bag_logits [B, K],
    instance_logits [B, N, K], attention [B, N], super_logits [B, S] (when n_super), and H.
    """

    def __init__(self, backbone: nn.Module, n_classes: int = 6, feature_dim: int = 128,
                 attn_dim: int = 64, n_super: int | None = None, in_features: int | None = None,
                 pool: int | tuple[int, int] = 1, dropout: float = 0.25,
                 probe_size: tuple[int, int, int] = (3, 64, 64)):
        super().__init__()
        self.backbone = backbone
        self.pool = nn.AdaptiveAvgPool2d(pool)
        if in_features is None:
            was = backbone.training
            backbone.eval()
            with torch.no_grad():
                in_features = self._embed(torch.zeros(1, *probe_size)).shape[-1]
            backbone.train(was)
        self.feature = nn.Sequential(nn.Linear(in_features, feature_dim), nn.ReLU(inplace=True),
                                     nn.Dropout(dropout))
        self.attention = GatedAttention(feature_dim, attn_dim)
        self.bag_head = nn.Linear(feature_dim, n_classes)
        self.instance_head = nn.Linear(feature_dim, n_classes)
        self.super_head = nn.Linear(feature_dim, n_super) if n_super else None

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        f = self.backbone(x)
        if f.dim() == 4:
            f = self.pool(f)
        return torch.flatten(f, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if x.dim() != 5:
            raise ValueError(f"bags must be [B, N, C, H, W], got shape {tuple(x.shape)}")
        b, n = x.shape[:2]
        h = self.feature(self._embed(x.flatten(0, 1))).view(b, n, -1)
        a = self.attention(h, mask)
        z = torch.einsum("bn,bnl->bl", a, h)
        out = {"bag_logits": self.bag_head(z), "instance_logits": self.instance_head(h),
               "attention": a, "H": h}
        if self.super_head is not None:
            out["super_logits"] = self.super_head(z)
        return out


def instance_variance(instance_logits: torch.Tensor) -> torch.Tensor:
    """The 'prediction variance among instances' reading: variance over the N instances of the
    predicted class probabilities, averaged over classes and bags."""
    p = torch.softmax(instance_logits, dim=-1)
    return p.var(dim=1, unbiased=False).mean()


def mil_loss(outputs: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor], view: str,
             weights: Mapping[str, float] | None = None, instance_term: str = "ce"
             ) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted sum of the view's terms; returns (loss, {term: value}).

    S: bag CE + instance CE. Z: super-class CE + bag CE + instance term, where instance_term
    'ce' is CE on targets['instance_class'] (ignore -1) and 'variance' is instance_variance.
    A bag whose instance labels are all unknown adds nothing to the instance CE.
    """
    if view not in ("S", "Z"):
        raise ValueError(f"view must be S or Z, got {view!r}")
    if instance_term not in INSTANCE_TERMS:
        raise ValueError(f"instance_term must be one of {INSTANCE_TERMS}, got {instance_term!r}")
    w = {**DEFAULT_LOSS_WEIGHTS, **(weights or {})}
    terms: dict[str, torch.Tensor] = {"bag": F.cross_entropy(outputs["bag_logits"], targets["bag"])}
    il = outputs["instance_logits"]
    if view == "Z" and instance_term == "variance":
        terms["instance"] = instance_variance(il)
    else:
        tgt = targets["instance_class"].reshape(-1)
        if (tgt >= 0).any():
            terms["instance"] = F.cross_entropy(il.reshape(-1, il.shape[-1]), tgt, ignore_index=-1)
    if view == "Z":
        if "super_logits" not in outputs:
            raise ValueError("Z loss needs super_logits: build the model with n_super")
        terms["super"] = F.cross_entropy(outputs["super_logits"], targets["super"])
    loss = sum(float(w[k]) * v for k, v in terms.items())
    return loss, {k: float(v.detach()) for k, v in terms.items()}
