"""Deep transfer features (liu2025_dlr stage 2): ResNet50 penultimate average pool, 2048-d.

Input per vertebra: ``n_slices`` axial slices evenly spaced through the ROI's z-extent,
cropped in-plane to the ROI's bounding box (+ margin), z-scored with the ROI's voxels,
resized to 64x64 (bilinear), repeated to 3 channels. A vertebra's feature vector is the
mean of its slices' pooled features.

Backbone: torchvision ResNet50 initialised from RadImageNet or ImageNet (local files, see
:mod:`.radimagenet`) or randomly (seeded); the task head (fc -> K classes) is always random.
Optional fine-tuning on the *training* vertebrae only: cross-entropy with class weights,
AdamW, cosine annealing, head (and, if asked, backbone) trained. Runs on CUDA when present
(batched, AMP), else on CPU.
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

from .radimagenet import load_imagenet, load_radimagenet

BACKBONES = ("radimagenet", "imagenet")


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
    from torchvision.models import resnet50

    if cfg.backbone not in BACKBONES:
        raise InputError(f"unknown backbone {cfg.backbone!r}; choose one of {BACKBONES}", field="backbone")
    torch.manual_seed(cfg.seed)
    model = resnet50(weights=None)
    if cfg.init == "pretrained":
        if not cfg.weights:
            raise InputError(f"init is 'pretrained' but no {cfg.backbone} weights file is named; set "
                             f"liu2025_dlr.weights.{cfg.backbone} to a local file or use init: random",
                             field=f"liu2025_dlr.weights.{cfg.backbone}")
        (load_radimagenet if cfg.backbone == "radimagenet" else load_imagenet)(model, cfg.weights)
        note = f"pretrained {cfg.backbone} ({Path(cfg.weights).name})"
    elif cfg.init == "random":
        note = f"random init (seed {cfg.seed}); no {cfg.backbone} weights used"
    else:
        raise InputError(f"init must be 'random' or 'pretrained', got {cfg.init!r}", field="liu2025_dlr.weights.init")
    torch.manual_seed(cfg.seed + 1)
    model.fc = nn.Linear(model.fc.in_features, n_classes)  # task head: always random
    return model, note


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


def _device(cfg: DeepConfig) -> torch.device:
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.device)


def _autocast(device: torch.device, amp: bool):
    if device.type == "cuda" and amp:
        return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast("cpu", enabled=False)


def finetune(model: nn.Module, X: np.ndarray, y: np.ndarray, cfg: DeepConfig, log=print) -> list[float]:
    """Fine-tune on training inputs only (slices as samples, label of their vertebra)."""
    if cfg.finetune_epochs <= 0:
        return []
    device = _device(cfg)
    model.to(device).train()
    n, s = X.shape[:2]
    xs = torch.from_numpy(X.reshape(n * s, *X.shape[2:]))
    ys = torch.from_numpy(np.repeat(np.asarray(y, np.int64), s))
    counts = np.bincount(ys.numpy(), minlength=model.fc.out_features).astype(float)
    w = torch.tensor(np.where(counts > 0, counts.sum() / (len(counts) * np.maximum(counts, 1)), 0.0),
                     dtype=torch.float32, device=device)
    head = list(model.fc.parameters())
    groups = [{"params": head, "lr": cfg.lr_head}]
    for name, p in model.named_parameters():
        if not name.startswith("fc."):
            p.requires_grad_(cfg.finetune_backbone)
    if cfg.finetune_backbone:
        groups.append({"params": [p for nm, p in model.named_parameters() if not nm.startswith("fc.")],
                       "lr": cfg.lr_backbone})
    opt = torch.optim.AdamW(groups, weight_decay=1e-4)
    steps = cfg.finetune_epochs * int(np.ceil(len(xs) / cfg.batch_size))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and cfg.amp)
    gen = torch.Generator().manual_seed(cfg.seed)
    losses = []
    for ep in range(cfg.finetune_epochs):
        perm = torch.randperm(len(xs), generator=gen)
        tot = 0.0
        for b in range(0, len(xs), cfg.batch_size):
            idx = perm[b:b + cfg.batch_size]
            if len(idx) < 2:  # BatchNorm needs > 1 sample in train mode
                continue
            xb, yb = xs[idx].to(device), ys[idx].to(device)
            with _autocast(device, cfg.amp):
                loss = F.cross_entropy(model(xb), yb, weight=w)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            tot += loss.item() * len(idx)
        losses.append(tot / len(xs))
        log(f"fine-tune epoch {ep + 1}/{cfg.finetune_epochs}: loss {losses[-1]:.4f}")
    return losses


@torch.no_grad()
def extract(model: nn.Module, X: np.ndarray, cfg: DeepConfig) -> np.ndarray:
    """(N, 2048) penultimate average-pool features, averaged over each vertebra's slices."""
    device = _device(cfg)
    model.to(device).eval()
    body = nn.Sequential(*list(model.children())[:-1])  # up to and including avgpool
    n, s = X.shape[:2]
    flat = torch.from_numpy(X.reshape(n * s, *X.shape[2:]))
    out = []
    for b in range(0, len(flat), cfg.batch_size):
        with _autocast(device, cfg.amp):
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
    meta = {"config": asdict(cfg), "init": note, "device": str(_device(cfg)), "n_vertebrae": int(ok.sum()),
            "n_train_finetune": int(train.sum()), "finetune_loss": losses, "skipped": [e for e in errors if e],
            "torch": torch.__version__, "seconds": round(time.time() - t0, 1)}
    Path(meta_json).write_text(json.dumps(meta, indent=1))
    log(f"deep features ({cfg.backbone}, {note}) on {meta['device']}: {feats.shape} in {meta['seconds']} s")
    return out
