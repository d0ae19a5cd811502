"""Torch Dataset of qu2025_mil bags with the paper's transforms (torchvision v2).

Train: Resize(R, R) -> RandomAffine(rotation, translation, scale) -> RandomCrop(C)
-> RandomHorizontalFlip -> RandomRotation -> ToDtype(float) -> Normalize(0.5, 0.5).
Eval: Resize(R, R) -> CenterCrop(C) -> ToDtype(float) -> Normalize(0.5, 0.5) (the paper says
"and normalizing them" for validation too). The paper's sizes are R = 256, C = 224
(PAPER_TRANSFORMS); the CPU demo scales them down (DEMO_TRANSFORMS), stated in CHOSEN.

Random draws come from torch's global RNG at each __getitem__ (the engine seeds it), so every
epoch is jittered differently. By default each slice of a bag gets its own draw
(``per: instance``): the paper's loader reads the five images one by one; ``per: bag`` applies
one draw to all five.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from . import labels as L
from .bags import Bag

__all__ = ["PAPER_TRANSFORMS", "DEMO_TRANSFORMS", "CHOSEN", "build_transform", "BagDataset"]

PAPER_TRANSFORMS: dict = {
    "resize": 256, "crop": 224,
    "affine": {"degrees": 10.0, "translate": [0.05, 0.05], "scale": [0.9, 1.1]},
    "hflip_p": 0.5, "rotation": 10.0, "mean": 0.5, "std": 0.5, "per": "instance",
}
DEMO_TRANSFORMS: dict = {**PAPER_TRANSFORMS, "resize": 72, "crop": 64}

CHOSEN: list[tuple[str, str, str]] = [
    ("affine_ranges", "rotation +-10 deg, translation +-5 %, scale 0.9-1.1",
     "the paper names the operations but not their ranges; mild values keep the vertebra in view"),
    ("flip_rotation", "horizontal flip p = 0.5, rotation +-10 deg",
     "ranges not published"),
    ("transform_per", "instance (an independent draw per slice)",
     "the paper's pipeline transforms each image file on its own"),
    ("resize", "R x R (no aspect change: bags are cut square)",
     "the paper resizes to 256 x 256"),
    ("demo_sizes", "resize 72, crop 64 (paper 256 / 224)", "CPU demo; paper preset kept"),
    ("grey_to_rgb", "the slice repeated on 3 channels", "AlexNet takes 3 channels; CT is grey"),
]


def build_transform(spec: Mapping | None = None, train: bool = False) -> v2.Compose:
    """v2 pipeline from a spec (keys as PAPER_TRANSFORMS); input uint8 [.., 3, H, W]."""
    s = {**PAPER_TRANSFORMS, **(spec or {})}
    mean, std = [float(s["mean"])] * 3, [float(s["std"])] * 3
    r, c = int(s["resize"]), int(s["crop"])
    if c > r:
        raise ValueError(f"crop {c} is larger than resize {r}")
    ops: list = [v2.Resize((r, r), antialias=True)]
    if train:
        a = s["affine"]
        ops += [v2.RandomAffine(degrees=float(a["degrees"]), translate=tuple(a["translate"]),
                                scale=tuple(a["scale"])),
                v2.RandomCrop(c),
                v2.RandomHorizontalFlip(p=float(s["hflip_p"])),
                v2.RandomRotation(float(s["rotation"]))]
    else:
        ops += [v2.CenterCrop(c)]
    ops += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    return v2.Compose(ops)


class BagDataset(Dataset):
    """Bags of one view. Item: (x float [n, 3, C, C], targets dict).

    targets: ``bag`` (long, paper index 0..5), ``instance`` (long [n]: 1 shows the fracture,
    0 not, -1 unknown), ``instance_class`` (long [n]: the bag label where the slice shows the
    fracture, AZ where not, -1 unknown; the instance head's CE target), and for Z ``super``
    (long, index into labels.SUPER_CLASSES).
    """

    def __init__(self, bags: Sequence[Bag], view: str, spec: Mapping | None = None,
                 train: bool = False):
        if view not in L.VIEWS:
            raise ValueError(f"view must be one of {L.VIEWS}, got {view!r}")
        wrong = [b.case_id for b in bags if b.view != view]
        if wrong:
            raise ValueError(f"bags of another view than {view}: cases {wrong[:5]}")
        unlabelled = [b.case_id for b in bags if b.label is None]
        if unlabelled:
            raise ValueError(f"bags without a bag label (no ao_type): cases {unlabelled[:5]}")
        self.bags, self.view, self.train = list(bags), view, train
        self.spec = {**PAPER_TRANSFORMS, **(spec or {})}
        if self.spec["per"] not in ("instance", "bag"):
            raise ValueError(f"transform 'per' must be instance or bag, got {self.spec['per']!r}")
        self.transform = build_transform(self.spec, train)

    def __len__(self) -> int:
        return len(self.bags)

    def targets(self, i: int) -> dict[str, torch.Tensor]:
        b = self.bags[i]
        n = b.images.shape[0]
        bag = L.class_index(b.label)
        if b.instance_labels is None:
            inst = torch.full((n,), -1, dtype=torch.long)
        else:
            inst = torch.as_tensor(np.asarray(b.instance_labels, np.int64))
        icls = torch.where(inst == 1, bag, torch.where(inst == 0, L.class_index(L.AZ), -1))
        t = {"bag": torch.tensor(bag, dtype=torch.long), "instance": inst,
             "instance_class": icls.long()}
        if self.view == "Z":
            t["super"] = torch.tensor(L.super_index(b.label), dtype=torch.long)
        return t

    def __getitem__(self, i: int):
        b = self.bags[i]
        x = torch.from_numpy(np.ascontiguousarray(b.images))[:, None].expand(-1, 3, -1, -1)
        if self.spec["per"] == "bag":
            out = self.transform(tv_tensors.Image(x.contiguous()))
        else:
            out = torch.stack([self.transform(tv_tensors.Image(x[k].contiguous()))
                               for k in range(x.shape[0])])
        return out.as_subclass(torch.Tensor), self.targets(i)
