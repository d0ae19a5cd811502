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
           "INSTANCE_TERMS", "CHOSEN", "instance_variance", "mil_loss", "MILTask", "BagLogits"]

DEFAULT_LOSS_WEIGHTS: dict[str, float] = {"bag": 1.0, "super": 0.5, "instance": 0.5}
INSTANCE_TERMS = ("ce", "variance")

CHOSEN: list[tuple[str, str, str]] = [
    ("z_instance_term", "ce (cross-entropy on instance labels); 'variance' available",
     "the paper says every sub-loss is cross-entropy and its Z loader returns instance labels; "
     "a penalty on the variance of instance predictions pushes all slices to agree, against "
     "the MIL premise that only some slices show the fracture; on the tuning cohort "
     "(bench/tune_qu2025_mil.py) the variance reading gave the same ensemble accuracy and left "
     "Z's instance head uninformative (slice AUC 0.34 vs 0.83 with ce)"),
    ("instance_target", "bag label on fracture slices, AZ on the others (6-class head)",
     "the instance classifier shares the bag's label space; unknown slices are ignored (-1)"),
    ("loss_weights", "bag 1.0, super 0.5, instance 0.5",
     "the paper weights the terms but gives no weights"),
    ("attention_dims", "feature L and attention D from config (demo 128 / 64; paper preset 500 / 128)",
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


def alexnet_backbone(weights_path: str | None = None, seed: int = 0,
                     weights_key: str = "weights") -> tuple[nn.Module, str]:
    """torchvision AlexNet's convolutional `features` (FC removed), built and loaded by the one
    builder of the engine (vfrepro.deep.models.build_model / load_weights: a local torchvision
    AlexNet file; its FC stack is ignored), else random init. Returns (module, init text)."""
    from vfrepro.deep.models import build_model
    net, init = build_model("alexnet", 1, weights=weights_path or None, seed=seed,
                            weights_key=weights_key)
    return net.features, init


class GatedAttentionMIL(nn.Module):
    """MIL classifier over bags [B, N, 3, H, W].

    backbone: any module mapping [K, 3, H, W] to [K, F] or to feature maps [K, C, h, w] (then
    adaptive average pooled to `pool` and flattened). `in_features` is probed with a dummy input
    of `probe_size` when not given. forward returns a dict of logits: bag [B, K],
    instance_class [B, N, K] (instance logits), attention [B, N], super [B, S] (when n_super), and H.
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
        out = {"bag": self.bag_head(z), "instance_class": self.instance_head(h),
               "attention": a, "H": h}
        if self.super_head is not None:
            out["super"] = self.super_head(z)
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
    terms: dict[str, torch.Tensor] = {"bag": F.cross_entropy(outputs["bag"], targets["bag"])}
    il = outputs["instance_class"]
    if view == "Z" and instance_term == "variance":
        terms["instance"] = instance_variance(il)
    else:
        tgt = targets["instance_class"].reshape(-1)
        if (tgt >= 0).any():
            terms["instance"] = F.cross_entropy(il.reshape(-1, il.shape[-1]), tgt, ignore_index=-1)
    if view == "Z":
        if "super" not in outputs:
            raise ValueError("Z loss needs the super output: build the model with n_super")
        terms["super"] = F.cross_entropy(outputs["super"], targets["super"])
    loss = sum(float(w[k]) * v for k, v in terms.items())
    return loss, {k: float(v.detach()) for k, v in terms.items()}


def _task_base():
    from vfrepro.deep.tasks import MultiInstance
    return MultiInstance


class MILTask(_task_base()):
    """The engine's MultiInstance adapter for one view, with this study's heads and outputs.

    Heads (cross-entropy, weights from config): S = bag + instance_class; Z = bag + super +
    the instance term: instance_class CE (``instance_term="ce"``) or, the other reading of the
    paper, ``"variance"``: the variance of the instances' predicted probabilities
    (:func:`instance_variance`), added to the engine's loss with the instance weight.
    Prediction outputs (:meth:`outputs`, stacked by :meth:`stack`) are a dict of arrays:
    ``bag`` [n, K] probabilities, ``attention`` [n, N], ``instance`` [n, N] (1 - p(AZ) of the
    instance head: "this slice shows the fracture"), ``instance_class`` [n, N, K] and, for Z,
    ``super`` [n, S].
    """

    def __init__(self, view: str, weights: Mapping[str, float] | None = None,
                 instance_term: str = "ce", az_index: int = 5):
        if view not in ("S", "Z"):
            raise ValueError(f"view must be S or Z, got {view!r}")
        if instance_term not in INSTANCE_TERMS:
            raise ValueError(f"instance_term must be one of {INSTANCE_TERMS}, got {instance_term!r}")
        w = {**DEFAULT_LOSS_WEIGHTS, **(weights or {})}
        self.view, self.instance_term, self.az_index = view, instance_term, int(az_index)
        self.variance_weight = float(w["instance"]) if view == "Z" and instance_term == "variance" else 0.0
        heads = {"bag": ("ce", float(w["bag"]))}
        if not self.variance_weight:
            heads["instance_class"] = ("ce", float(w["instance"]))
        if view == "Z":
            heads["super"] = ("ce", float(w["super"]))
        super().__init__(heads, monitor="bag")

    def step(self, model, batch):
        seen = {}

        def forward(x):
            seen.update(model(x))
            return seen

        heads = self.heads
        if "instance_class" in heads and not (batch[1]["instance_class"] >= 0).any():
            # no slice of this batch has a known instance label: CE over nothing is NaN
            self.heads = {k: v for k, v in heads.items() if k != "instance_class"}
        try:
            out = super().step(forward, batch)
        finally:
            self.heads = heads
        if self.variance_weight:
            var = instance_variance(seen["instance_class"].float())
            out.loss = out.loss + self.variance_weight * var
            out.parts["instance_variance"] = var.item()
        return out

    def outputs(self, model, x):
        o = model(x)
        pi = torch.softmax(o["instance_class"].float(), -1)
        res = {"bag": torch.softmax(o["bag"].float(), -1), "attention": o["attention"].float(),
               "instance": 1.0 - pi[..., self.az_index], "instance_class": pi}
        if "super" in o:
            res["super"] = torch.softmax(o["super"].float(), -1)
        return {k: v.detach().cpu() for k, v in res.items()}

    def stack(self, outs):
        if not outs:
            return {}
        return {k: torch.cat([o[k] for o in outs]).numpy() for k in outs[0]}


class BagLogits(nn.Module):
    """One bag's instances [N, 3, H, W] -> its bag logits [1, K]: the form Grad-CAM
    (vfrepro.deep.cam) takes. ``features`` is the MIL model's AlexNet backbone, so the paper's
    last convolutional layer is ``features.10``; the CAM has one map per instance."""

    def __init__(self, mil: GatedAttentionMIL):
        super().__init__()
        self.mil = mil
        self.features = mil.backbone

    def forward(self, x):
        return self.mil(x[None])["bag"]
