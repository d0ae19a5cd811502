"""The stages of wang2024_twostage as functions: slices file, detector fit / predict, patches and
the multi-label classifier, predictions in the evaluation package's multi-label schema.

Training uses the one CNN engine (:func:`vfrepro.deep.train.train_model` with the
:class:`~vfrepro.deep.tasks.Detection` and :class:`~vfrepro.deep.tasks.MultiLabel` adapters);
only training-split slices / patches are ever fitted on.  Everything computes and returns; the
``cli`` module writes the files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ...errors import InputError
from .boxes import match, scaled_shift
from .datasets import (PatchAugment, PatchConfig, PatchDataset, PatchSource, DetectionDataset,
                       paper_resample_indices, paper_sampling_weights, patch_sources)
from .metrics import mean_over_patches
from .slices import CLASSES, DISEASES, SagittalSlice, SliceConfig
from .tables import DATASETS

STUDY = "wang2024_twostage"
BACKBONES = ("resnet18", "mobilenet_v2")
SPLIT_KEYS = {"train": "training", "internal": "test", "external": "alternative_hospital"}

CHOSEN: list[tuple[str, object, str]] = [
    ("detector_feature_map", "one stride-16 map, no FPN (config detector.fpn: false); ResNet18 up to "
     "layer3 (MATLAB 'res4b_relu'), MobileNetV2 features[:14] (~'block_13_expand_relu')",
     "the paper's MATLAB Faster R-CNN uses one feature layer; detector.fpn: true gives torchvision's FPN"),
    ("detector_transform", "torchvision min_size = max_size = slice input_size (no rescale to 800)",
     "slices are already square at the input size"),
    ("detector_box_head", "TwoMLPHead width detector.representation_size (demo 256; torchvision 1024)",
     "CPU demo cost; the paper's MATLAB head is not described"),
    ("detector_anchors", "anchor sizes from config (demo 16-48 px at 160 px), aspect ratios 0.5, 1, 2",
     "not published; scaled to the vertebra size on the slice"),
    ("detector_init", "random init with trainable BatchNorm unless a local weights file is set",
     "no download; FrozenBatchNorm without loaded statistics learns nothing"),
    ("detector_training_data", "training-split slices only; detections predicted on every split "
     "(training normals for the classifier come from the detector, as at test time)",
     "paper: detector trained on Luhe training, normals = detector boxes with IoM < 0.5"),
    ("classifier_mode", "training patches: 'online' (one fresh jitter per box and epoch, demo) or "
     "'offline' (n_jitter fixed patches per box, paper); test: n_jitter fixed patches, mean score",
     "Appendix 1: 5 patches per box"),
    ("classifier_resampling", "'weights': the paper's per-sample expected draws feed the engine's "
     "WeightedRandomSampler (len(dataset) draws per epoch: the paper's class ratios, not its total); "
     "'indices': the paper's resampled set itself; 'none'", "training split only"),
    ("automatic_path", "beyond the paper: every detection with score >= threshold classified; truth "
     "from the annotated box it hits (IoM > 0.5), an unmatched detection counts as truth normal, a "
     "missed vertebra as predicted normal (disease scores 0)", "end-to-end performance, stated as such"),
    ("datasets", DATASETS, "manifest split -> the paper's dataset; prospective left out"),
]


# ----------------------------------------------------------------------------- slices file

def save_slices(path, slices: list[SagittalSlice], split_of: dict[str, str]) -> None:
    """One .npz: images [N, S, S] uint8, per-slice ids / split, boxes flattened with slice index."""
    n = len(slices)
    size = slices[0].image.shape[0] if n else 0
    boxes = [s.boxes for s in slices]
    np.savez_compressed(
        path, images=np.stack([s.image for s in slices]) if n else np.zeros((0, size, size), np.uint8),
        case_id=np.array([s.case_id for s in slices], dtype=str),
        x_index=np.array([s.x_index for s in slices], np.int64),
        shift=np.array([s.shift for s in slices], np.int64).reshape(n, 2),
        split=np.array([split_of.get(s.case_id, "") for s in slices], dtype=str),
        box_slice=np.concatenate([np.full(len(b), i) for i, b in enumerate(boxes)] or [np.zeros(0)]).astype(np.int64),
        boxes=np.concatenate(boxes or [np.zeros((0, 4), np.float32)]).reshape(-1, 4).astype(np.float32),
        labels=np.concatenate([s.labels for s in slices] or [np.zeros((0, 5), np.uint8)]).reshape(-1, 5),
        levels=np.array([lv for s in slices for lv in s.levels], dtype=str))


def load_slices(path) -> tuple[list[SagittalSlice], np.ndarray]:
    """(slices, split per slice) from :func:`save_slices`'s file."""
    from pathlib import Path
    if not Path(path).is_file():
        raise InputError("slices file not found", path=str(path))
    with np.load(path) as f:
        z = {k: f[k] for k in f.files}   # each f[k] decompresses anew: read every array once
    out = []
    for i in range(len(z["images"])):
        k = z["box_slice"] == i
        out.append(SagittalSlice(str(z["case_id"][i]), int(z["x_index"][i]), z["images"][i].copy(),
                                 z["boxes"][k], tuple(str(v) for v in z["levels"][k]),
                                 z["labels"][k].astype(np.uint8), tuple(int(v) for v in z["shift"][i])))
    return out, z["split"].astype(str)


def slice_id(s: SagittalSlice) -> str:
    return f"{s.case_id}_x{s.x_index:03d}"


# ----------------------------------------------------------------------------- detector

@dataclass
class DetectorFit:
    model: torch.nn.Module
    history: list[dict]
    init: str
    seconds: float
    device: str


def build_detector(backbone: str, dcfg: dict, input_size: int, seed: int):
    """The Faster R-CNN of one backbone (see CHOSEN); gives (model, init)."""
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead

    from ...deep.models import build_model
    if backbone not in BACKBONES:
        raise InputError(f"backbone must be one of {BACKBONES}, got {backbone!r}", field="backbones")
    weights = (dcfg.get("weights") or {}).get(backbone) or None
    opts = dict(dcfg.get("options") or {})
    model, init = build_model(f"fasterrcnn_{backbone}", 2, weights, "all", seed=seed,
                              weights_key=f"{STUDY}.detector.weights.{backbone}",
                              min_size=input_size, max_size=input_size,
                              anchor_sizes=tuple(int(a) for a in dcfg.get("anchor_sizes", (32, 64, 128, 256, 512))),
                              detector_options=opts, fpn=bool(dcfg.get("fpn", False)))
    rep = int(dcfg.get("representation_size", 1024))
    if rep != 1024:
        torch.manual_seed(seed + 2)
        heads = model.roi_heads
        in_feat = heads.box_head.fc6.in_features
        heads.box_head = TwoMLPHead(in_feat, rep)
        heads.box_predictor = FastRCNNPredictor(rep, 2)
    return model, init


def detector_train_config(dcfg: dict, backbone: str, seed: int):
    from ...deep.train import TrainConfig
    t = dict(dcfg.get("train") or {})
    t.update((dcfg.get("backbone_overrides") or {}).get(backbone, {}))
    t.setdefault("seed", seed)
    t.setdefault("progress", False)
    return TrainConfig.from_dict(t)


def fit_detector(train_slices: list[SagittalSlice], backbone: str, dcfg: dict, input_size: int,
                 seed: int, log_csv=None) -> DetectorFit:
    """Train the detector on the given (training) slices with the engine's Detection adapter."""
    from ...deep.tasks import Detection
    from ...deep.train import train_model
    if not train_slices:
        raise InputError("no training slices for the detector (manifest split 'train')", field="split")
    model, init = build_detector(backbone, dcfg, input_size, seed)
    cfg = detector_train_config(dcfg, backbone, seed)
    ds = DetectionDataset(train_slices, augment=dcfg.get("augment", "offline8"), seed=seed)
    r = train_model(model, ds, cfg, log_csv=log_csv, desc=f"detect {backbone}", task=Detection())
    return DetectorFit(r.model, r.history, init, r.seconds, r.device)


def predict_detections(model, slices: list[SagittalSlice], device: str = "auto",
                       batch_size: int = 8) -> list[dict]:
    """Per slice {"boxes" [m, 4], "scores" [m]} (numpy), no augmentation."""
    from ...deep.tasks import Detection
    from ...deep.train import predict
    if not slices:
        return []
    out = predict(model, DetectionDataset(slices, augment=None), batch_size=batch_size, device=device,
                  task=Detection())
    return [{"boxes": d["boxes"].numpy().reshape(-1, 4), "scores": d["scores"].numpy().reshape(-1)} for d in out]


def detections_table(slices: list[SagittalSlice], split: np.ndarray, dets: list[dict],
                     backbone: str) -> pd.DataFrame:
    rows = []
    for s, sp, d in zip(slices, split, dets):
        for b, sc in zip(d["boxes"], d["scores"]):
            rows.append({"slice_id": slice_id(s), "case_id": s.case_id, "split": sp, "backbone": backbone,
                         "x0": float(b[0]), "y0": float(b[1]), "x1": float(b[2]), "y1": float(b[3]),
                         "score": float(sc)})
    return pd.DataFrame(rows, columns=["slice_id", "case_id", "split", "backbone", "x0", "y0", "x1", "y1", "score"])


def detections_per_slice(table: pd.DataFrame, slices: list[SagittalSlice]) -> list[dict]:
    """The detections table back to per-slice dicts in the order of ``slices``."""
    g = {k: v for k, v in table.groupby("slice_id")}
    out = []
    for s in slices:
        t = g.get(slice_id(s))
        if t is None:
            out.append({"boxes": np.zeros((0, 4), np.float32), "scores": np.zeros(0, np.float32)})
        else:
            out.append({"boxes": t[["x0", "y0", "x1", "y1"]].to_numpy(np.float32),
                        "scores": t["score"].to_numpy(np.float32)})
    return out


# ----------------------------------------------------------------------------- classifier

def patch_config(ccfg: dict, input_size: int) -> PatchConfig:
    p = dict(ccfg.get("patch") or {})
    shift = p.get("max_shift")
    return PatchConfig(n_jitter=int(p.get("n_jitter", 5)),
                       max_shift=float(scaled_shift(input_size) if shift is None else shift),
                       scale=tuple(float(v) for v in p.get("scale", (0.9, 1.1))),
                       canvas=int(p.get("canvas", 196)), out=int(p.get("out", 224)))


def thresholded(dets: list[dict], threshold: float) -> list[np.ndarray]:
    return [d["boxes"][d["scores"] >= threshold] for d in dets]


def _level_of(src: PatchSource, s: SagittalSlice) -> str:
    """The annotated level a (detected) patch box belongs to: best IoM > 0.5, else 'det<k>'."""
    if src.source == "annotated":
        return src.group.rsplit("_", 1)[1]
    from .boxes import iom
    if len(s.boxes):
        m = iom(src.box[None], s.boxes).numpy()[0]
        if m.max() > 0.5:
            return s.levels[int(m.argmax())]
    return src.group.rsplit("_", 1)[1]


def build_sources(slices, dets_kept) -> tuple[list[PatchSource], list[tuple[int, str]]]:
    """Patch sources of the paper's rule per slice and (slice index, level) of each."""
    srcs, where = [], []
    for j, s in enumerate(slices):
        ps = patch_sources([s], [dets_kept[j]] if dets_kept is not None else None)
        srcs += ps
        where += [(j, _level_of(p, s)) for p in ps]
    return srcs, where


def automatic_sources(slices, dets_kept) -> tuple[list[PatchSource], list[tuple[int, str]], list[dict]]:
    """Every kept detection as a patch source with truth from the annotated box it hits; plus the
    annotated vertebrae no detection hits (rows predicted normal)."""
    srcs, where, missed = [], [], []
    for j, (s, det) in enumerate(zip(slices, dets_kept)):
        mt = match(s.boxes, det)
        hit = {d: g for g, d in mt.hits}
        for q in range(len(det)):
            g = hit.get(q)
            y = np.r_[s.labels[g], int(s.labels[g].sum() == 0)] if g is not None else np.r_[np.zeros(5), 1]
            lv = s.levels[g] if g is not None else f"det{q}"
            srcs.append(PatchSource(s.image, det[q], y.astype(np.float32), f"{slice_id(s)}_det{q}", "detected"))
            where.append((j, lv))
        for g in mt.fn:
            missed.append({"slice": j, "level": s.levels[g], "target": np.r_[s.labels[g], int(s.labels[g].sum() == 0)]})
    return srcs, where, missed


def build_classifier(ccfg: dict, seed: int):
    from ...deep.models import build_model
    arch = ccfg.get("arch", "resnet50")
    weights = ccfg.get("weights") or None
    return build_model(arch, len(CLASSES), weights, "all", seed=seed,
                       weights_key=f"{STUDY}.classifier.weights")


def training_weights(train_ds: PatchDataset, how: str) -> np.ndarray | None:
    if how != "weights":
        return None
    targets = np.stack([s.target for s in train_ds.sources])[train_ds.indices]
    w = paper_sampling_weights(targets)
    rep = train_ds.cfg.n_jitter if train_ds.mode == "offline" else 1
    return np.repeat(w, rep)


def fit_classifier(train_sources: list[PatchSource], ccfg: dict, input_size: int, seed: int,
                   log_csv=None):
    """ResNet50 (config arch) with six sigmoid outputs on the training patches (engine, MultiLabel)."""
    from ...deep.tasks import MultiLabel
    from ...deep.train import TrainConfig, train_model
    if not train_sources:
        raise InputError("no training patches for the classifier", field="split")
    pcfg = patch_config(ccfg, input_size)
    how = ccfg.get("resample", "weights")
    if how not in ("weights", "indices", "none"):
        raise InputError(f"classifier.resample must be weights, indices or none, got {how!r}",
                         field="classifier.resample")
    targets = np.stack([s.target for s in train_sources])
    idx = paper_resample_indices(targets, rng=np.random.default_rng(seed)) if how == "indices" else None
    aug = ccfg.get("augment")
    ds = PatchDataset(train_sources, pcfg, mode=ccfg.get("train_mode", "online"),
                      augment=PatchAugment(**aug) if aug is not None else None, indices=idx, seed=seed)
    model, init = build_classifier(ccfg, seed)
    t = dict(ccfg.get("train") or {})
    t.setdefault("seed", seed)
    t.setdefault("progress", False)
    cfg = TrainConfig.from_dict(t)
    r = train_model(model, ds, cfg, log_csv=log_csv, desc="classify", task=MultiLabel(len(CLASSES)),
                    sample_weights=training_weights(ds, how))
    counts = {c: int(v) for c, v in zip(CLASSES, targets[ds.indices].sum(axis=0))}
    return r, init, counts


def score_sources(model, sources: list[PatchSource], ccfg: dict, input_size: int, seed: int,
                  device: str = "auto") -> np.ndarray:
    """Mean sigmoid scores [n_sources, 6] over each box's n_jitter fixed patches."""
    from ...deep.tasks import MultiLabel
    from ...deep.train import predict
    if not sources:
        return np.zeros((0, len(CLASSES)))
    pcfg = patch_config(ccfg, input_size)
    ds = PatchDataset(sources, pcfg, mode="offline", augment=None, seed=seed + 7)
    p = predict(model, ds, batch_size=128, device=device, task=MultiLabel(len(CLASSES)))
    groups = np.repeat(np.arange(len(sources)), pcfg.n_jitter)
    g, m = mean_over_patches(p, groups)
    out = np.zeros((len(sources), len(CLASSES)))
    out[g.astype(int)] = m
    return out


def prediction_rows(slices, split, sources, where, scores, path_name: str) -> pd.DataFrame:
    """Rows of the multi-label predictions schema (truth_<class>, prob_<class>, 6 classes)."""
    rows = []
    for src, (j, lv), sc in zip(sources, where, scores):
        s = slices[j]
        r = {"case_id": s.case_id, "level": lv, "slice_id": slice_id(s), "split": split[j],
             "dataset": DATASETS.get(split[j], split[j]), "box_source": src.source, "path": path_name,
             "x0": float(src.box[0]), "y0": float(src.box[1]), "x1": float(src.box[2]), "y1": float(src.box[3])}
        r.update({f"truth_{c}": int(v > 0.5) for c, v in zip(CLASSES, src.target)})
        r.update({f"prob_{c}": float(np.clip(v, 0, 1)) for c, v in zip(CLASSES, sc)})
        rows.append(r)
    return pd.DataFrame(rows)


__all__ = ["STUDY", "BACKBONES", "CHOSEN", "CLASSES", "DISEASES", "SliceConfig", "save_slices", "load_slices",
           "slice_id", "build_detector", "fit_detector", "predict_detections", "detections_table",
           "detections_per_slice", "patch_config", "thresholded", "build_sources", "automatic_sources",
           "fit_classifier", "score_sources", "prediction_rows"]
