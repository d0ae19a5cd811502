"""Deep transfer features (liu2025_dlr stage 2): ResNet50 penultimate average pool, 2048-d.

Input per vertebra: ``n_slices`` axial slices evenly spaced through the ROI's z-extent,
cropped in-plane to the ROI's bounding box (+ margin), z-scored with the ROI's voxels,
resized to 64x64 (bilinear), repeated to 3 channels. A vertebra's feature vector is the
mean of its slices' pooled features.

Backbone: torchvision ResNet50 from the engine's one builder, initialised from RadImageNet or
ImageNet (local files, see :func:`.models.load_weights`) or randomly (seeded); the task head
(fc -> K classes) is always random. Optional fine-tuning on the *training* vertebrae only, in the
engine's one loop: cross-entropy with class weights, AdamW, cosine annealing per step, head
(and, if asked, backbone) trained. Runs on CUDA when present (batched, AMP), else on CPU.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
import torch
import torch.nn.functional as F
from torch import nn

from vfrepro.errors import InputError

from .data import ArrayDataset
from .models import build_model, freeze, head_module
from .tasks import SingleLabel
from .train import TrainConfig, autocast, select_device, train_model

BACKBONES = ("radimagenet", "imagenet")
WHERE = {  # what to put at a missing weights path
    "radimagenet": "the RadImageNet PyTorch release ResNet50.pt (keys backbone.0/1/4-7.*), e.g. "
                   "resources/weights/RadImageNet_ResNet50.pt",
    "imagenet": "torchvision's resnet50 ImageNet state dict (torchvision.models.resnet50(weights="
                "'IMAGENET1K_V2').state_dict(), saved with torch.save), e.g. resources/weights/resnet50_imagenet.pth",
}


@dataclass
class DeepConfig:
    backbone: str = "radimagenet"
    weights: str = ""             # local file; "" with init=random
    init: str = "random"          # random | pretrained
    n_slices: int = 3
    size: int = 64
    margin: int = 4
    finetune_epochs: int = 0      # 0 = no fine-tuning
    finetune_backbone: bool = True
    lr_head: float = 1e-3
    lr_backbone: float = 1e-4
    batch_size: int = 32
    seed: int = 0
    device: str = "auto"          # auto | cpu | cuda
    amp: bool = True


def build_resnet50(cfg: DeepConfig, n_classes: int = 3) -> tuple[nn.Module, str]:
    """ResNet50 with backbone weights per cfg and a random task head; gives (model, init note)."""
    if cfg.backbone not in BACKBONES:
        raise InputError(f"unknown backbone {cfg.backbone!r}; choose one of {BACKBONES}", field="backbone")
    key = f"liu2025_dlr.weights.{cfg.backbone}"
    if cfg.init not in ("random", "pretrained"):
        raise InputError(f"init must be 'random' or 'pretrained', got {cfg.init!r}", field="liu2025_dlr.weights.init")
    if cfg.init == "pretrained" and not cfg.weights:
        raise InputError(f"init is 'pretrained' but no {cfg.backbone} weights file is named; set "
                         f"{key} to a local file or use init: random", field=key)
    weights = cfg.weights if cfg.init == "pretrained" else None
    # The RadImageNet file must be in its release layout: an ImageNet file there would be mislabelled.
    model, _ = build_model("resnet50", n_classes, weights, seed=cfg.seed, weights_key=key,
                           layout="radimagenet" if cfg.backbone == "radimagenet" else "torchvision",
                           weights_hint=WHERE[cfg.backbone])
    if weights:
        return model, f"pretrained {cfg.backbone} ({Path(cfg.weights).name})"
    return model, f"random init (seed {cfg.seed}); no {cfg.backbone} weights used"


def roi_slices(image: np.ndarray, mask: np.ndarray, n_slices: int = 3, size: int = 64,
               margin: int = 4) -> np.ndarray:
    """(n_slices, 3, size, size) float32 network input of one binary ROI (arrays z, y, x)."""
    zz, yy, xx = np.nonzero(mask)
    if len(zz) == 0:
        raise ValueError("empty ROI")
    zs = np.unique(np.round(np.linspace(zz.min(), zz.max(), n_slices + 2)[1:-1]).astype(int))
    zs = np.resize(zs, n_slices)
    y0, y1 = max(yy.min() - margin, 0), min(yy.max() + margin + 1, mask.shape[1])
    x0, x1 = max(xx.min() - margin, 0), min(xx.max() + margin + 1, mask.shape[2])
    roi_vals = image[mask]
    mu, sd = float(roi_vals.mean()), float(roi_vals.std())
    crop = (image[zs, y0:y1, x0:x1].astype(np.float32) - mu) / (sd if sd > 1e-6 else 1.0)
    t = torch.from_numpy(crop)[:, None]
    t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
    return t.repeat(1, 3, 1, 1).numpy().astype(np.float32)


def load_inputs(table: pd.DataFrame, cfg: DeepConfig) -> tuple[np.ndarray, list[str]]:
    """Network inputs of every row (columns case_id, mask_label, image, mask); gives (X, errors).

    A row that fails (missing file, absent label) gets zeros and an error message; the caller
    drops it, so one bad case does not stop the others."""
    X = np.zeros((len(table), cfg.n_slices, 3, cfg.size, cfg.size), np.float32)
    errors = [""] * len(table)
    cache: dict[str, np.ndarray] = {}
    for i, r in enumerate(table.itertuples(index=False)):
        try:
            if r.image not in cache:
                cache.clear()
                cache[r.image] = sitk.GetArrayFromImage(sitk.ReadImage(str(r.image), sitk.sitkFloat32))
            img = cache[r.image]
            lab = sitk.GetArrayFromImage(sitk.ReadImage(str(r.mask)))
            if lab.shape != img.shape:
                raise ValueError(f"mask shape {lab.shape} != image shape {img.shape}")
            X[i] = roi_slices(img, lab == int(r.mask_label), cfg.n_slices, cfg.size, cfg.margin)
        except Exception as exc:  # noqa: BLE001
            errors[i] = f"case {r.case_id} label {r.mask_label}: {type(exc).__name__}: {exc}"
    return X, errors


def finetune(model: nn.Module, X: np.ndarray, y: np.ndarray, cfg: DeepConfig, log=print) -> list[float]:
    """Fine-tune on training inputs only (slices as samples, label of their vertebra) through the
    engine's loop: class-weighted cross-entropy, AdamW with head / backbone learning rates,
    cosine annealing per step, batches of 1 skipped (BatchNorm). Gives the per-epoch losses."""
    if cfg.finetune_epochs <= 0:
        return []
    n, s = X.shape[:2]
    ds = ArrayDataset(X.reshape(n * s, *X.shape[2:]), np.repeat(np.asarray(y, np.int64), s))
    head = head_module(model, "resnet50")
    freeze(model, "resnet50", "all" if cfg.finetune_backbone else [])
    head_ids = {id(p) for p in head.parameters()}
    groups = [{"params": list(head.parameters()), "lr": cfg.lr_head}]
    if cfg.finetune_backbone:
        groups.append({"params": [p for p in model.parameters() if id(p) not in head_ids], "lr": cfg.lr_backbone})
    tcfg = TrainConfig(epochs=cfg.finetune_epochs, batch_size=cfg.batch_size, lr=cfg.lr_head, optimizer="adamw",
                       weight_decay=1e-4, scheduler="cosine_step", class_weights="balanced",
                       skip_single_batches=True, seed=cfg.seed, device=cfg.device, amp=cfg.amp, progress=False)
    res = train_model(model, ds, tcfg, task=SingleLabel(head.out_features), param_groups=groups,
                      desc="fine-tune")
    losses = [row["train_loss"] for row in res.history]
    for ep, loss in enumerate(losses):
        log(f"fine-tune epoch {ep + 1}/{cfg.finetune_epochs}: loss {loss:.4f}")
    return losses


@torch.no_grad()
def extract(model: nn.Module, X: np.ndarray, cfg: DeepConfig) -> np.ndarray:
    """(N, 2048) penultimate average-pool features, averaged over each vertebra's slices."""
    device = select_device(cfg.device)
    model.to(device).eval()
    body = nn.Sequential(*list(model.children())[:-1])  # up to and including avgpool
    n, s = X.shape[:2]
    flat = torch.from_numpy(X.reshape(n * s, *X.shape[2:]))
    out = []
    for b in range(0, len(flat), cfg.batch_size):
        with autocast(device, cfg.amp):
            f = body(flat[b:b + cfg.batch_size].to(device))
        out.append(f.float().flatten(1).cpu())
    feats = torch.cat(out).numpy().reshape(n, s, -1).mean(axis=1)
    return feats.astype(np.float64)


def run(table: pd.DataFrame, cfg: DeepConfig, out_csv: str | Path, meta_json: str | Path,
        label_col: str = "astlof_class", log=print) -> pd.DataFrame:
    """Inputs -> (fine-tune on split == train) -> features CSV (case_id, mask_label, dtl_0..2047)."""
    t0 = time.time()
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.use_deterministic_algorithms(False)
    for col in ("case_id", "mask_label", "split", "image", "mask", label_col):
        if col not in table.columns:
            raise InputError(f"column {col!r} missing from the vertebra table", field=col)
    X, errors = load_inputs(table, cfg)
    ok = np.array([e == "" for e in errors])
    for e in errors:
        if e:
            log(f"warning: skipped {e}")
    if not ok.any():
        raise InputError("no vertebra could be read for deep features")
    classes = sorted(pd.unique(table[label_col].astype(int)))
    model, note = build_resnet50(cfg, n_classes=max(len(classes), int(max(classes)) + 1))
    train = ok & (table["split"].to_numpy() == "train")
    losses = finetune(model, X[train], table.loc[train, label_col].astype(int).to_numpy(), cfg, log)
    feats = extract(model, X[ok], cfg)
    if not np.isfinite(feats).all():
        raise RuntimeError("deep features contain non-finite values")
    cols = [f"dtl_{j}" for j in range(feats.shape[1])]
    out = pd.concat([table.loc[ok, ["case_id", "mask_label"]].reset_index(drop=True),
                     pd.DataFrame(feats, columns=cols)], axis=1)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(out_csv, index=False, float_format="%.7g")
    meta = {"config": asdict(cfg), "init": note, "device": str(select_device(cfg.device)), "n_vertebrae": int(ok.sum()),
            "n_train_finetune": int(train.sum()), "finetune_loss": losses, "skipped": [e for e in errors if e],
            "torch": torch.__version__, "seconds": round(time.time() - t0, 1)}
    Path(meta_json).write_text(json.dumps(meta, indent=1))
    log(f"deep features ({cfg.backbone}, {note}) on {meta['device']}: {feats.shape} in {meta['seconds']} s")
    return out
