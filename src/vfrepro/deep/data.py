"""Vertebra crops from manifest rows: crop by box, resize, normalise, augment; patient-grouped splits.

A row of the validated manifest names a radiograph (``xray_lateral_path``, absolute) and the
vertebra's box on it (``lat_x0, lat_y0, lat_x1, lat_y1``; x1/y1 exclusive). Crops are read once
and kept in memory as uint8 tensors (a radiograph carries several vertebrae); augmentation runs
on the fly from torch's global RNG, which the training loop seeds, so a run is reproducible.
Every split or fold is by ``case_id``: no patient is ever on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2 as T
from torchvision.transforms.v2 import functional as TF

from ..errors import InputError
from ..folds import patient_folds, patient_split  # re-exported: the engine's splits

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "CropSpec", "CropDataset", "crop_one", "ArrayDataset", "DetectionDataset",
           "crop_factory", "load_crops", "labels_of", "crop_spec_from_config", "patient_folds",
           "patient_split", "check_columns"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class CropSpec:
    """How a vertebra crop becomes a network input (one per study, from config)."""

    size: int = 64
    margin: float = 0.1               # box grown by this fraction of its size on each side
    path_col: str = "xray_lateral_path"
    box_cols: tuple = ("lat_x0", "lat_y0", "lat_x1", "lat_y1")
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    rotation_deg: float = 0.0         # random rotation in [-deg, deg]
    hflip: bool = False
    vflip: bool = False
    shift: float = 0.0                # random translation, fraction of the input size
    extra: dict = field(default_factory=dict)


def crop_spec_from_config(cfg: dict, *, rotation_deg: float, hflip: bool, vflip: bool,
                          shift: float) -> CropSpec:
    """A study's CropSpec from its config section (input_size, margin, augment); the keyword
    arguments are the study's augmentation defaults, used where its config leaves one out."""
    aug = cfg.get("augment", {})
    return CropSpec(size=int(cfg.get("input_size", 64)), margin=float(cfg.get("margin", 0.1)),
                    mean=IMAGENET_MEAN, std=IMAGENET_STD,
                    rotation_deg=float(aug.get("rotation_deg", rotation_deg)),
                    hflip=bool(aug.get("hflip", hflip)), vflip=bool(aug.get("vflip", vflip)),
                    shift=float(aug.get("shift", shift)))


def check_columns(table: pd.DataFrame, cols, study: str) -> None:
    lacking = [c for c in cols if c not in table.columns]
    if lacking:
        raise InputError(f"study {study} needs column(s) {lacking}, which the manifest lacks",
                         field=lacking[0])


def labels_of(table: pd.DataFrame, col: str, classes: list[str]) -> np.ndarray:
    """Class indices of ``table[col]`` in the order of ``classes``; unknown values name the case."""
    lookup = {str(c): i for i, c in enumerate(classes)}
    out = np.empty(len(table), dtype=np.int64)
    for i, (case, v) in enumerate(zip(table["case_id"], table[col])):
        key = str(int(v)) if isinstance(v, (float, np.floating)) and float(v).is_integer() else str(v)
        if key not in lookup:
            raise InputError(f"label {v!r} is not one of {list(classes)}", case=str(case), field=col)
        out[i] = lookup[key]
    return out


def crop_one(img: np.ndarray, box, margin: float, case: str, path: str, box_cols) -> np.ndarray:
    """The crop of ``box`` (x0, y0, x1, y1) widened by ``margin`` (a fraction of its size per side)
    from a 2-D image, clipped to it: the network input's geometry (also used to cut other maps
    on the same grid, e.g. lesion projections)."""
    h, w = img.shape
    try:
        x0, y0, x1, y1 = (int(round(float(b))) for b in box)
    except (TypeError, ValueError):
        raise InputError(f"vertebra box {list(box)} is not numeric", case=case, path=path,
                         field=box_cols[0]) from None
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise InputError(f"vertebra box (x0,y0,x1,y1)=({x0},{y0},{x1},{y1}) is empty or outside "
                         f"the {w}x{h} image", case=case, path=path, field=box_cols[0])
    mx, my = int(round(margin * (x1 - x0))), int(round(margin * (y1 - y0)))
    x0, y0, x1, y1 = max(0, x0 - mx), max(0, y0 - my), min(w, x1 + mx), min(h, y1 + my)
    return img[y0:y1, x0:x1]


def load_crops(table: pd.DataFrame, spec: CropSpec) -> torch.Tensor:
    """(n, 1, size, size) uint8 crops of the rows, resized (bilinear, antialiased)."""
    cache: dict[str, np.ndarray] = {}
    out = torch.empty((len(table), 1, spec.size, spec.size), dtype=torch.uint8)
    for i, row in enumerate(table.itertuples(index=False)):
        r = row._asdict()
        case, path = str(r.get("case_id", "?")), r.get(spec.path_col)
        if path is None or (isinstance(path, float) and np.isnan(path)):
            raise InputError("no radiograph path", case=case, field=spec.path_col)
        if path not in cache:
            try:
                with Image.open(path) as im:
                    cache[path] = np.asarray(im.convert("L"))
            except FileNotFoundError:
                raise InputError("radiograph file does not exist", case=case, path=path,
                                 field=spec.path_col) from None
            except OSError as exc:
                raise InputError(f"cannot read radiograph ({exc})", case=case, path=path,
                                 field=spec.path_col) from None
        crop = crop_one(cache[path], [r[c] for c in spec.box_cols], spec.margin, case, path,
                         spec.box_cols)
        t = torch.from_numpy(np.array(crop, copy=True))[None]
        out[i] = TF.resize(t, [spec.size, spec.size], antialias=True)
    return out


class CropDataset(Dataset):
    """Crops (uint8, cached) -> normalised 3-channel float tensors, augmented when ``train``."""

    def __init__(self, crops: torch.Tensor, labels, spec: CropSpec, train: bool):
        self.crops = crops
        self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        if len(self.crops) != len(self.labels):
            raise ValueError(f"{len(self.crops)} crops but {len(self.labels)} labels")
        self.spec = spec
        self.train = train
        aug = []
        if train and spec.hflip:
            aug.append(T.RandomHorizontalFlip())
        if train and spec.vflip:
            aug.append(T.RandomVerticalFlip())
        if train and (spec.rotation_deg or spec.shift):
            # Bilinear: torchvision's default (nearest) leaves staircase edges on rotated cortex.
            aug.append(T.RandomAffine(degrees=spec.rotation_deg,
                                      translate=(spec.shift, spec.shift) if spec.shift else None,
                                      interpolation=T.InterpolationMode.BILINEAR))
        self.aug = T.Compose(aug) if aug else None
        self.mean = torch.tensor(spec.mean).view(3, 1, 1)
        self.std = torch.tensor(spec.std).view(3, 1, 1)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        x = self.crops[i]
        if self.aug is not None:
            x = self.aug(x)
        x = x.float().div_(255.0).expand(3, -1, -1)
        return (x - self.mean) / self.std, self.labels[i]


def crop_factory(crops: torch.Tensor, labels, spec: CropSpec):
    """The dataset factory of cached radiograph crops: ``(index, train) -> CropDataset``."""
    labels = np.asarray(labels)
    return lambda index, train: CropDataset(crops[index], labels[index], spec, train)


def _select(targets, index):
    if isinstance(targets, dict):
        return {k: v[index] for k, v in targets.items()}
    return targets[index]


class ArrayDataset(Dataset):
    """In-memory float inputs (CT slices ``[n, C, H, W]`` or bags ``[n, N, C, H, W]``) with targets
    (a tensor, or a dict of tensors for several heads). ``transform`` (e.g. a torchvision v2
    pipeline; it draws from torch's seeded RNG) runs in ``__getitem__`` when ``train``, so each
    epoch sees new jitter; on a bag v2 transforms treat the instance axis as a batch."""

    def __init__(self, inputs, targets, transform=None, train: bool = False):
        self.inputs = torch.as_tensor(inputs)
        many = isinstance(targets, dict)
        self.targets = {k: torch.as_tensor(v) for k, v in targets.items()} if many else torch.as_tensor(targets)
        sizes = {len(self.inputs)} | {len(v) for v in (self.targets.values() if many else [self.targets])}
        if len(sizes) != 1:
            raise ValueError(f"inputs and targets differ in length: {sorted(sizes)}")
        self.labels = None if many else self.targets  # single-label sampler / class weights read it
        self.base_transform = transform
        self.transform = transform if train else None

    def subset(self, index, train: bool) -> "ArrayDataset":
        """The factory form (``ds.subset`` is a ``(index, train) -> Dataset`` callable)."""
        return ArrayDataset(self.inputs[index], _select(self.targets, index), self.base_transform, train)

    def __len__(self):
        return len(self.inputs)

    def __getitem__(self, i):
        x = self.inputs[i]
        if self.transform is not None:
            x = self.transform(x)
        return x, _select(self.targets, i)


class DetectionDataset(Dataset):
    """Images ``[C, H, W]`` (float in [0, 1]) with targets ``{"boxes": [n, 4] xyxy, "labels": [n]}``
    in torchvision's detection form; ``transform`` (a v2 pipeline, boxes follow the image) runs
    per item when ``train``. Collate with :class:`~.tasks.Detection`'s list collate."""

    def __init__(self, images, targets: list[dict], transform=None, train: bool = False):
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        self.images, self.targets = images, targets
        self.base_transform = transform
        self.transform = transform if train else None

    def subset(self, index, train: bool) -> "DetectionDataset":
        """The factory form, as :meth:`ArrayDataset.subset`."""
        return DetectionDataset([self.images[i] for i in index], [self.targets[i] for i in index],
                                self.base_transform, train)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img, t = self.images[i], self.targets[i]
        boxes = tv_tensors.BoundingBoxes(torch.as_tensor(t["boxes"], dtype=torch.float32).reshape(-1, 4),
                                         format="XYXY", canvas_size=tuple(img.shape[-2:]))
        target = {"boxes": boxes, "labels": torch.as_tensor(t["labels"], dtype=torch.int64)}
        img = tv_tensors.Image(img)
        if self.transform is not None:
            img, target = self.transform(img, target)
        return img.as_subclass(torch.Tensor), {"boxes": target["boxes"].as_subclass(torch.Tensor),
                                               "labels": target["labels"]}
