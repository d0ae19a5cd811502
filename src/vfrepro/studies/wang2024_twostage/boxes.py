"""Box geometry of wang2024_twostage: IoM / IoU, hit-FN-FP matching, normal boxes, jittered patches.

Boxes are ``x0, y0, x1, y1`` float pixel edges (torchvision's convention), as arrays or tensors
of shape ``[n, 4]``.  Everything computes and returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import stats as st
from torchvision.ops import box_area, box_iou

CHOSEN: list[tuple[str, object, str]] = [
    ("iom", "area(A & B) / min(area A, area B); 0 where a box has zero area",
     "paper: 'intersection ... divided by the minimum area of the Bboxes'"),
    ("hit_rule", "IoM > 0.5 (strict), one-to-one, greedy by descending IoM",
     "paper: hit 'if their IoM was larger than 0.5'; one detection explains one vertebra, a "
     "duplicate detection of the same vertebra is an FP"),
    ("score_threshold", ">= 0.75", "paper: 'a threshold of 0.75 for the probability'"),
    ("fp_rate", "FP / detected boxes (pooled over images; the per-image mean is given too)",
     "share of detections that are wrong; the paper does not print the denominator"),
    ("fn_rate", "FN / annotated boxes (pooled; per-image mean too)", "share of vertebrae missed"),
    ("normal_rule", "detected box kept as normal when IoM < 0.5 against every diseased box",
     "Appendix 1: boxes with IoM >= 0.5 to a disease box are abandoned"),
    ("jitter", "per patch: dx, dy ~ U[-shift, shift] px (real), one isotropic scale ~ U[0.9, 1.1] "
     "about the box centre; shift = 10 px x input_size / 1024 in the demo",
     "Appendix 1: translation [-10, 10] px, scale [0.9, 1.1], 5 patches per box"),
    ("patch", "crop the (rounded, jittered) box, zero outside the image; zero-pad / centre-crop to "
     "canvas (196 paper) without rescaling; bilinear resize to out (224 paper); uint8",
     "Appendix 1's VEModule, in that order"),
]


def _t(b) -> torch.Tensor:
    return torch.as_tensor(np.asarray(b, dtype=np.float32) if not torch.is_tensor(b) else b,
                           dtype=torch.float32).reshape(-1, 4)


def iou(a, b) -> torch.Tensor:
    """IoU matrix [N, M] (torchvision.ops.box_iou)."""
    return box_iou(_t(a), _t(b))


def iom(a, b) -> torch.Tensor:
    """Intersection over minimum area, matrix [N, M]; 0 where either box has zero area."""
    a, b = _t(a), _t(b)
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=2)
    amin = torch.minimum(box_area(a)[:, None], box_area(b)[None, :])
    return torch.where(amin > 0, inter / amin.clamp(min=1e-12), torch.zeros_like(inter))


@dataclass
class Match:
    """Result of matching one image: hit pairs (annotated, detected), FN and FP indices."""

    hits: list[tuple[int, int]]
    fn: list[int]
    fp: list[int]
    n_annotated: int
    n_detected: int            # detections at or above the score threshold


def match(annotated, detected, scores=None, *, score_threshold: float = 0.75,
          iom_threshold: float = 0.5) -> Match:
    """Hit / FN / FP of one image by IoM > iom_threshold, one-to-one, greedy by IoM.

    Detections with score < score_threshold are dropped first; FP indices refer to the
    original detection list.
    """
    gt, det = _t(annotated), _t(detected)
    keep = torch.arange(det.shape[0])
    if scores is not None:
        s = torch.as_tensor(np.asarray(scores) if not torch.is_tensor(scores) else scores).reshape(-1)
        keep = torch.nonzero(s >= score_threshold).reshape(-1)
    det_k = det[keep]
    hits: list[tuple[int, int]] = []
    if gt.shape[0] and det_k.shape[0]:
        m = iom(gt, det_k).numpy()
        gi, di = np.nonzero(m > iom_threshold)
        order = np.argsort(-m[gi, di], kind="stable")
        used_g, used_d = set(), set()
        for k in order:
            g, d = int(gi[k]), int(di[k])
            if g in used_g or d in used_d:
                continue
            used_g.add(g)
            used_d.add(d)
            hits.append((g, int(keep[d])))
    hg = {g for g, _ in hits}
    hd = {d for _, d in hits}
    fn = [g for g in range(gt.shape[0]) if g not in hg]
    fp = [int(d) for d in keep.tolist() if int(d) not in hd]
    return Match(sorted(hits), fn, fp, int(gt.shape[0]), int(det_k.shape[0]))


def detection_errors(annotated: list, detected: list, scores: list, *, image_ids=None,
                     score_threshold: float = 0.75, iom_threshold: float = 0.5):
    """Per-image hit / FN / FP counts and rates, and the pooled summary.

    Gives (per_image DataFrame [image, n_annotated, n_detected, hits, fn, fp, fn_rate, fp_rate],
    summary dict: pooled fp_rate = FP / detected, fn_rate = FN / annotated, their per-image
    means, totals, and Pearson r / p of detected vs annotated counts).
    """
    if not (len(annotated) == len(detected) == len(scores)):
        raise ValueError("annotated, detected and scores must list the same images")
    ids = list(image_ids) if image_ids is not None else list(range(len(annotated)))
    recs = []
    for i, a, d, s in zip(ids, annotated, detected, scores):
        mt = match(a, d, s, score_threshold=score_threshold, iom_threshold=iom_threshold)
        recs.append({"image": i, "n_annotated": mt.n_annotated, "n_detected": mt.n_detected,
                     "hits": len(mt.hits), "fn": len(mt.fn), "fp": len(mt.fp),
                     "fn_rate": len(mt.fn) / mt.n_annotated if mt.n_annotated else np.nan,
                     "fp_rate": len(mt.fp) / mt.n_detected if mt.n_detected else np.nan})
    df = pd.DataFrame.from_records(recs, columns=["image", "n_annotated", "n_detected", "hits", "fn",
                                                  "fp", "fn_rate", "fp_rate"])
    tot = df[["n_annotated", "n_detected", "hits", "fn", "fp"]].sum()
    r, p = count_correlation(df["n_annotated"], df["n_detected"])
    summary = {
        "images": int(len(df)), **{k: int(v) for k, v in tot.items()},
        "fp_rate": float(tot["fp"] / tot["n_detected"]) if tot["n_detected"] else float("nan"),
        "fn_rate": float(tot["fn"] / tot["n_annotated"]) if tot["n_annotated"] else float("nan"),
        "fp_rate_mean_per_image": float(df["fp_rate"].mean()) if len(df) else float("nan"),
        "fn_rate_mean_per_image": float(df["fn_rate"].mean()) if len(df) else float("nan"),
        "count_pearson_r": r, "count_pearson_p": p,
    }
    return df, summary


def error_histograms(per_image: pd.DataFrame) -> dict[str, pd.Series]:
    """Number of images per FP count and per FN count (Fig 2F)."""
    return {k: per_image[k].value_counts().sort_index().rename_axis(k).rename("images")
            for k in ("fp", "fn")}


def count_correlation(n_annotated, n_detected) -> tuple[float, float]:
    """Pearson r and p of detected vs annotated counts per slice; NaN when undefined."""
    a, d = np.asarray(n_annotated, float), np.asarray(n_detected, float)
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(d) == 0:
        return float("nan"), float("nan")
    res = st.pearsonr(a, d)
    return float(res.statistic), float(res.pvalue)


def normal_boxes(detected, diseased, *, iom_threshold: float = 0.5) -> np.ndarray:
    """Indices of detected boxes with IoM < iom_threshold against every diseased box."""
    det = _t(detected)
    if det.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    dis = _t(diseased)
    if dis.shape[0] == 0:
        return np.arange(det.shape[0])
    m = iom(det, dis)
    return torch.nonzero((m < iom_threshold).all(dim=1)).reshape(-1).numpy()


# ----------------------------------------------------------------------------- patches

def scaled_shift(input_size: int, paper_shift_px: float = 10.0, paper_size: int = 1024) -> float:
    """The paper's +-10 px translation scaled to a smaller input size."""
    return paper_shift_px * input_size / paper_size


def jitter_boxes(box, n: int = 5, *, max_shift: float = 10.0, scale=(0.9, 1.1),
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """n jittered copies [n, 4] of one box: shift U[-max_shift, max_shift], isotropic scale."""
    rng = rng if rng is not None else np.random.default_rng()
    x0, y0, x1, y1 = np.asarray(box, dtype=np.float64).reshape(4)
    cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    dx = rng.uniform(-max_shift, max_shift, n)
    dy = rng.uniform(-max_shift, max_shift, n)
    s = rng.uniform(scale[0], scale[1], n)
    cx, cy, hw, hh = cx + dx, cy + dy, s * w / 2, s * h / 2
    return np.stack([cx - hw, cy - hh, cx + hw, cy + hh], axis=1).astype(np.float32)


def crop_patch(image: np.ndarray, box, *, canvas: int = 196, out: int = 224) -> np.ndarray:
    """uint8 patch [out, out]: crop `box` (zero outside the image), zero-pad / centre-crop to
    canvas x canvas at native scale, bilinear resize to out x out."""
    img = np.asarray(image)
    if img.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {img.shape}")
    h, w = img.shape
    x0, y0, x1, y1 = (int(round(float(v))) for v in np.asarray(box).reshape(4))
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    crop = np.zeros((y1 - y0, x1 - x0), dtype=img.dtype)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        crop[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = img[sy0:sy1, sx0:sx1]
    from .slices import fit_square  # same centre crop / zero pad rule as the slices
    sq, _, _ = fit_square(crop, np.zeros((0, 4), np.float32), canvas)
    if out == canvas:
        return sq.astype(np.uint8)
    t = torch.from_numpy(sq.astype(np.float32))[None, None]
    r = F.interpolate(t, size=(out, out), mode="bilinear", align_corners=False, antialias=out < canvas)
    return r[0, 0].round().clamp(0, 255).to(torch.uint8).numpy()


def jittered_patches(image: np.ndarray, box, n: int = 5, *, max_shift: float = 10.0,
                     scale=(0.9, 1.1), canvas: int = 196, out: int = 224,
                     rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """n uint8 patches [n, out, out] around one box and the jittered boxes [n, 4] used."""
    jb = jitter_boxes(box, n, max_shift=max_shift, scale=scale, rng=rng)
    return np.stack([crop_patch(image, b, canvas=canvas, out=out) for b in jb]), jb
