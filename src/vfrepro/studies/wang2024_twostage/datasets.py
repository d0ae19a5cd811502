"""torch Datasets of wang2024_twostage: detection slices (8x D4 augmentation) and multi-label
jittered patches, plus the paper's resampling as indices and as per-sample sampling weights.

Detection item: (image float [C, S, S] in [0, 1], {"boxes": float [n, 4], "labels": int64 [n]})
with every label 1 ("vertebra"), as torchvision's Faster R-CNN takes it.
Patch item: (image float [3, h, w] in [0, 1], float [K] targets over CLASSES (5 diseases +
normal, the paper's six sigmoid outputs) or over DISEASES with ``with_normal=False``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from .boxes import crop_patch, iom, jitter_boxes, normal_boxes
from .slices import CLASSES, DISEASES, SagittalSlice

CHOSEN: list[tuple[str, object, str]] = [
    ("d4_ops", "op k in 0..7: horizontal flip if k >= 4, then rot90 counter-clockwise (k % 4) times",
     "Fig S3: eight flips / 90-degree rotations of image and boxes (the dihedral group D4)"),
    ("detection_augment", "'offline8': dataset of 8n items, every slice under every op (paper); "
     "'random': one random op per item and epoch; None: as is", "paper enlarges the set 8-fold offline"),
    ("channels", "grey slice replicated to 3 channels, scaled to [0, 1]",
     "ImageNet-pretrained backbones take 3 channels"),
    ("targets", "6 sigmoid targets OVCF, OF, SN, KD, PS, normal (normal = no disease)",
     "paper: 'multi-output ... six classes independently'; with_normal=False gives the 5 diseases"),
    ("patch_boxes", "diseased: annotated boxes; normal: detector boxes with IoM < 0.5 to every "
     "diseased box (annotated normal boxes only when no detections are given, stated as such)",
     "Appendix 1 and Fig 3A"),
    ("patch_jitter", "'offline': n_jitter fixed patches per box from the seed (paper, train and test); "
     "'online': fresh jitter per epoch (set_epoch)", "Appendix 1: 5 patches per box, all used"),
    ("resample_reference", "count of OVCF positives (largest disease count if OVCF has none)",
     "paper: OVCF, 'the disease category with the most samples', is the reference"),
    ("resample_rule", "normal: random subset without replacement of 2x ref (all if fewer); each of "
     "OF, SN, KD, PS below 0.5x ref: random duplicates of its positives up to 0.5x ref; classes "
     "already above are kept as they are; training split only",
     "paper's counts after resampling: OVCF 8,046; OF..PS 4,023 each; normal 16,092"),
    ("sampling_weights", "expected draws per sample: normal min(1, 2 ref / n_normal); a diseased "
     "sample max(1, 0.5 ref / n_c) for its rarest positive class c; OVCF-only 1",
     "the same target counts for an engine's WeightedRandomSampler(num_samples=sum(w))"),
    ("classifier_augment", "rotation +-10 deg, translation +-5 %, Gaussian noise SD 0.02, "
     "brightness +-0.1, contrast x[0.9, 1.1] (training only)",
     "paper names the operations but not their ranges"),
]


# ----------------------------------------------------------------------------- D4 transforms

def d4_image(img: torch.Tensor, k: int) -> torch.Tensor:
    """Apply D4 op k (0..7) to an image [..., H, W]."""
    if not 0 <= k < 8:
        raise ValueError(f"D4 op must be 0..7, got {k}")
    if k >= 4:
        img = torch.flip(img, dims=(-1,))
    return torch.rot90(img, k % 4, dims=(-2, -1))


def d4_boxes(boxes, k: int, height: int, width: int) -> torch.Tensor:
    """Apply D4 op k to boxes [n, 4] (x0, y0, x1, y1 pixel edges) of an H x W image."""
    b = torch.as_tensor(np.asarray(boxes, np.float32) if not torch.is_tensor(boxes) else boxes,
                        dtype=torch.float32).reshape(-1, 4).clone()
    h, w = height, width
    if k >= 4:
        b = torch.stack([w - b[:, 2], b[:, 1], w - b[:, 0], b[:, 3]], dim=1)
    for _ in range(k % 4):
        # Counter-clockwise 90 degrees: (x, y) -> (y, W - x); the image becomes W x H.
        b = torch.stack([b[:, 1], w - b[:, 2], b[:, 3], w - b[:, 0]], dim=1)
        h, w = w, h
    return b


def _to_float(img: np.ndarray, channels: int) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(img)).to(torch.float32) / 255.0
    t = t[None] if t.ndim == 2 else t
    return t.expand(channels, *t.shape[-2:]).clone() if channels != t.shape[0] else t


class DetectionDataset(Dataset):
    """Sagittal slices with vertebra boxes for Faster R-CNN (see module docstring)."""

    def __init__(self, slices: list[SagittalSlice], *, augment: str | None = "offline8",
                 channels: int = 3, seed: int = 0):
        if augment not in (None, "offline8", "random"):
            raise ValueError(f"augment must be None, 'offline8' or 'random', got {augment!r}")
        self.slices, self.augment, self.channels, self.seed = list(slices), augment, channels, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.slices) * (8 if self.augment == "offline8" else 1)

    def op_of(self, i: int) -> tuple[int, int]:
        """(slice index, D4 op) of item i."""
        if self.augment == "offline8":
            return i // 8, i % 8
        if self.augment == "random":
            rng = np.random.default_rng((self.seed, self.epoch, i))
            return i, int(rng.integers(8))
        return i, 0

    def __getitem__(self, i: int):
        si, k = self.op_of(i)
        s = self.slices[si]
        h, w = s.image.shape
        img = d4_image(_to_float(s.image, self.channels), k)
        boxes = d4_boxes(s.boxes, k, h, w)
        return img, {"boxes": boxes, "labels": torch.ones(boxes.shape[0], dtype=torch.int64)}


def detection_collate(batch):
    """torchvision detection form: (list of images, list of targets)."""
    return [b[0] for b in batch], [b[1] for b in batch]


# ----------------------------------------------------------------------------- patches

@dataclass
class PatchSource:
    """One vertebra box to cut patches from."""

    image: np.ndarray          # uint8 [H, W] slice
    box: np.ndarray            # [4]
    target: np.ndarray         # float [6] over CLASSES
    group: str                 # vertebra id (case, slice, box): the 5 test patches share it
    source: str                # "annotated" or "detected"


def patch_sources(slices: list[SagittalSlice], detections: list | None = None, *,
                  iom_threshold: float = 0.5) -> list[PatchSource]:
    """Boxes for the classifier as the paper builds them: annotated diseased boxes, and normal
    boxes = detected boxes with IoM < iom_threshold to every diseased box of the slice.

    `detections`: per slice the detector's boxes [m, 4] (already thresholded), or None: then the
    annotated boxes without disease stand in for the normals (source 'annotated').
    """
    out: list[PatchSource] = []
    for j, s in enumerate(slices):
        sid = f"{s.case_id}_x{s.x_index:03d}"
        dis = s.labels.sum(axis=1) > 0
        for b, lv, y in zip(s.boxes[dis], np.asarray(s.levels)[dis], s.labels[dis]):
            out.append(PatchSource(s.image, np.asarray(b, np.float32), np.r_[y, 0].astype(np.float32),
                                   f"{sid}_{lv}", "annotated"))
        if detections is None:
            for b, lv in zip(s.boxes[~dis], np.asarray(s.levels)[~dis]):
                out.append(PatchSource(s.image, np.asarray(b, np.float32),
                                       np.r_[np.zeros(len(DISEASES)), 1].astype(np.float32),
                                       f"{sid}_{lv}", "annotated"))
        else:
            det = np.asarray(detections[j], np.float32).reshape(-1, 4)
            for q in normal_boxes(det, s.boxes[dis], iom_threshold=iom_threshold):
                out.append(PatchSource(s.image, det[q], np.r_[np.zeros(len(DISEASES)), 1].astype(np.float32),
                                       f"{sid}_det{int(q)}", "detected"))
    return out


@dataclass(frozen=True)
class PatchConfig:
    n_jitter: int = 5
    max_shift: float = 10.0
    scale: tuple[float, float] = (0.9, 1.1)
    canvas: int = 196
    out: int = 224


@dataclass(frozen=True)
class PatchAugment:
    rotation_deg: float = 10.0
    translate_frac: float = 0.05
    noise_sd: float = 0.02
    brightness: float = 0.1
    contrast: float = 0.1


def augment_patch(x: torch.Tensor, aug: PatchAugment, rng: np.random.Generator) -> torch.Tensor:
    """Random rotation, translation, Gaussian noise, brightness and contrast of a [C, h, w] patch."""
    from torchvision.transforms.v2 import functional as TF

    h, w = x.shape[-2:]
    ang = float(rng.uniform(-aug.rotation_deg, aug.rotation_deg))
    tx = int(round(rng.uniform(-aug.translate_frac, aug.translate_frac) * w))
    ty = int(round(rng.uniform(-aug.translate_frac, aug.translate_frac) * h))
    x = TF.affine(x, angle=ang, translate=[tx, ty], scale=1.0, shear=[0.0, 0.0])
    c = float(rng.uniform(1 - aug.contrast, 1 + aug.contrast))
    m = x.mean()
    x = (x - m) * c + m + float(rng.uniform(-aug.brightness, aug.brightness))
    x = x + aug.noise_sd * torch.from_numpy(rng.standard_normal(x.shape[-2:]).astype(np.float32))
    return x.clamp(0.0, 1.0)


class PatchDataset(Dataset):
    """Jittered vertebra patches with multi-label targets (see module docstring).

    mode 'offline': n_jitter fixed patches per box (drawn once from the seed; item i is patch
    i % n_jitter of box i // n_jitter); 'online': one fresh jitter per box and epoch.
    `indices`: optional resampled box indices (paper_resample_indices), training only.
    """

    def __init__(self, sources: list[PatchSource], cfg: PatchConfig = PatchConfig(), *,
                 mode: str = "offline", augment: PatchAugment | None = None, with_normal: bool = True,
                 indices=None, seed: int = 0):
        if mode not in ("offline", "online"):
            raise ValueError(f"mode must be 'offline' or 'online', got {mode!r}")
        self.sources, self.cfg, self.mode, self.augment = list(sources), cfg, mode, augment
        self.with_normal, self.seed, self.epoch = with_normal, seed, 0
        self.indices = np.arange(len(self.sources)) if indices is None else np.asarray(indices, np.int64)
        rng = np.random.default_rng(seed)
        # Jitters are drawn per source box, so duplicated (over-sampled) boxes reuse them.
        self._jit = [jitter_boxes(s.box, cfg.n_jitter, max_shift=cfg.max_shift, scale=cfg.scale, rng=rng)
                     for s in self.sources] if mode == "offline" else None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices) * (self.cfg.n_jitter if self.mode == "offline" else 1)

    def locate(self, i: int) -> tuple[int, np.ndarray]:
        """(source index, jittered box) of item i."""
        if self.mode == "offline":
            src = int(self.indices[i // self.cfg.n_jitter])
            return src, self._jit[src][i % self.cfg.n_jitter]
        src = int(self.indices[i])
        rng = np.random.default_rng((self.seed, self.epoch, i))
        return src, jitter_boxes(self.sources[src].box, 1, max_shift=self.cfg.max_shift,
                                 scale=self.cfg.scale, rng=rng)[0]

    def group_of(self, i: int) -> str:
        return self.sources[self.locate(i)[0]].group

    def __getitem__(self, i: int):
        src, jb = self.locate(i)
        s = self.sources[src]
        p = crop_patch(s.image, jb, canvas=self.cfg.canvas, out=self.cfg.out)
        x = _to_float(p, 3)
        if self.augment is not None:
            x = augment_patch(x, self.augment, np.random.default_rng((self.seed, self.epoch, i, 1)))
        y = torch.from_numpy(s.target if self.with_normal else s.target[:len(DISEASES)]).to(torch.float32)
        return x, y


# ----------------------------------------------------------------------------- resampling

def class_counts(targets) -> dict[str, int]:
    """Positives per class of a [n, 5 or 6] target matrix (normal = no disease if 5 columns)."""
    t = np.asarray(targets).reshape(len(targets), -1)
    d = t[:, :len(DISEASES)] > 0.5
    out = {c: int(d[:, k].sum()) for k, c in enumerate(DISEASES)}
    out["normal"] = int((~d.any(axis=1)).sum())
    return out


def _reference(d: np.ndarray) -> int:
    ref = int(d[:, 0].sum())
    return ref if ref > 0 else int(d.sum(axis=0).max())


def paper_resample_indices(targets, *, rng: np.random.Generator | None = None,
                           normal_factor: float = 2.0, minority_factor: float = 0.5) -> np.ndarray:
    """Indices (with repeats) of the paper's resampled training set (see CHOSEN)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    t = np.asarray(targets).reshape(len(targets), -1)
    d = t[:, :len(DISEASES)] > 0.5
    normal = np.flatnonzero(~d.any(axis=1))
    diseased = np.flatnonzero(d.any(axis=1))
    ref = _reference(d)
    n_norm = min(len(normal), int(round(normal_factor * ref)))
    chosen = [diseased, rng.choice(normal, size=n_norm, replace=False) if n_norm else normal[:0]]
    target = int(round(minority_factor * ref))
    counts = d[np.concatenate(chosen)].sum(axis=0)
    for k in range(1, len(DISEASES)):
        pos = np.flatnonzero(d[:, k])
        need = target - int(counts[k])
        if need > 0 and pos.size:
            extra = rng.choice(pos, size=need, replace=True)
            chosen.append(extra)
            counts = counts + d[extra].sum(axis=0)
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def paper_sampling_weights(targets, *, normal_factor: float = 2.0,
                           minority_factor: float = 0.5) -> np.ndarray:
    """Per-sample expected draws giving the paper's resampled class counts (see CHOSEN)."""
    t = np.asarray(targets).reshape(len(targets), -1)
    d = t[:, :len(DISEASES)] > 0.5
    n_c = d.sum(axis=0)
    ref = _reference(d)
    w = np.ones(len(t), dtype=np.float64)
    normal = ~d.any(axis=1)
    if normal.any():
        w[normal] = min(1.0, normal_factor * ref / normal.sum())
    target = minority_factor * ref
    for i in np.flatnonzero(~normal):
        pos = np.flatnonzero(d[i])
        c = pos[np.argmin(n_c[pos])]
        if c != 0 and n_c[c] < target:
            w[i] = target / n_c[c]
    return w


__all__ = ["CHOSEN", "d4_image", "d4_boxes", "DetectionDataset", "detection_collate", "PatchSource",
           "patch_sources", "PatchConfig", "PatchAugment", "augment_patch", "PatchDataset",
           "class_counts", "paper_resample_indices", "paper_sampling_weights", "CLASSES", "iom"]
