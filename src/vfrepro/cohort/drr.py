"""Lateral and AP digitally reconstructed radiographs (DRR) with per-vertebra boxes.

Parallel-beam line integrals of linear attenuation through the CT, plus the patient's
body outside the cropped field of view as a water-equivalent slab; Poisson-like
quantum noise at the site's exposure; log compression; 8-bit PNG with superior up.
Lateral: columns run anterior -> posterior. AP: columns run patient right -> left
(the patient's right on the viewer's left).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from .phantom import Grid
from .sites import SiteProfile

PIXEL_MM = 0.5          # isotropic radiograph pixel
BOX_MARGIN_MM = 2.0     # margin around the projected body
MU_WATER = 0.0195       # 1/mm at ~70 keV effective


@dataclass
class Radiograph:
    """An 8-bit image (rows superior -> inferior) and boxes {label: (x0, y0, x1, y1)} in pixels."""

    image: np.ndarray
    boxes: dict[int, tuple[int, int, int, int]]


def _project(mu: np.ndarray, axis: int, step_mm: float) -> np.ndarray:
    """Line integral of mu along an array axis; gives a (z, other) path-attenuation image."""
    return mu.sum(axis=axis, dtype=np.float64).astype(np.float32) * step_mm


def to_pixels(img: np.ndarray, sz: float, sw: float) -> np.ndarray:
    """Resample a (z, w) projection with spacing (sz, sw) mm to PIXEL_MM, edges aligned; flip z."""
    out_shape = (int(round(img.shape[0] * sz / PIXEL_MM)), int(round(img.shape[1] * sw / PIXEL_MM)))
    zoom = (out_shape[0] / img.shape[0], out_shape[1] / img.shape[1])
    res = ndimage.zoom(img, zoom, order=1, grid_mode=True, mode="nearest")
    return res[::-1]   # superior (high z) on top


def _boxes(labels: np.ndarray, axis: int, sz: float, sw: float, shape: tuple[int, int]) -> dict:
    """Boxes of each label's projection in radiograph pixels (x0, y0 inclusive; x1, y1 exclusive)."""
    boxes = {}
    nz = labels.shape[0]
    m = int(round(BOX_MARGIN_MM / PIXEL_MM))
    for code in np.unique(labels)[1:]:
        proj = (labels == code).any(axis=axis)          # (z, w)
        ks = np.nonzero(proj.any(axis=1))[0]
        ws = np.nonzero(proj.any(axis=0))[0]
        # Physical extent of the voxels, measured from the top edge (z) and left edge (w).
        top_mm = (nz - 1 - ks[-1]) * sz
        bot_mm = (nz - ks[0]) * sz
        left_mm, right_mm = ws[0] * sw, (ws[-1] + 1) * sw
        y0 = max(int(np.floor(top_mm / PIXEL_MM)) - m, 0)
        y1 = min(int(np.ceil(bot_mm / PIXEL_MM)) + m, shape[0])
        x0 = max(int(np.floor(left_mm / PIXEL_MM)) - m, 0)
        x1 = min(int(np.ceil(right_mm / PIXEL_MM)) + m, shape[1])
        boxes[int(code)] = (x0, y0, x1, y1)
    return boxes


def render_pair(hu: np.ndarray, labels: np.ndarray, grid: Grid, site: SiteProfile,
                rng: np.random.Generator) -> dict[str, Radiograph]:
    """Lateral and AP radiographs of the clean HU volume; takes HU, labels, Grid, site, Generator."""
    sx, sy, sz = grid.spacing
    mu = np.clip(MU_WATER * (1.0 + hu / 1000.0), 0.0, None).astype(np.float32)
    out = {}
    for view, axis, sw, extra_mm in (("lateral", 2, sy, 260.0), ("ap", 1, sx, 140.0)):
        path = to_pixels(_project(mu, axis, sx if axis == 2 else sy), sz, sw)
        # Body outside the cropped FOV: a water-equivalent slab with a gentle gradient.
        grad = np.linspace(0.97, 1.03, path.shape[1], dtype=np.float32)[None, :]
        path = path + MU_WATER * extra_mm * grad
        # Exposure is set so that the median detector pixel receives site.xray_exposure photons.
        n0 = site.xray_exposure * float(np.exp(np.median(path)))
        counts = n0 * np.exp(-path)
        counts = counts + np.sqrt(counts) * rng.standard_normal(counts.shape).astype(np.float32)
        counts = ndimage.gaussian_filter(np.clip(counts, 1.0, None), site.xray_blur_px)
        logimg = -np.log(counts / n0)                   # bone bright
        lo, hi = np.percentile(logimg, [1.0, 99.7])
        u = np.clip((logimg - lo) / max(hi - lo, 1e-6), 0.0, 1.0) ** site.xray_gamma
        u = u + site.xray_noise * rng.standard_normal(u.shape)
        img = np.clip(np.rint(u * 255.0), 0, 255).astype(np.uint8)
        out[view] = Radiograph(image=img, boxes=_boxes(labels, axis, sz, sw, img.shape))
    return out


def save_png(img: np.ndarray, path: Path) -> None:
    """Write an 8-bit grayscale PNG (no timestamps, so the bytes are deterministic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(img, dtype=np.uint8)).save(path, format="PNG", optimize=False)
