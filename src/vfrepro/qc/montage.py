"""Mid-sagittal montage of a site's cases with the reader-1 mask outline."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # headless: figures are files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import SimpleITK as sitk  # noqa: E402

# Bone window W1500/L500, as liu2025_dlr reads its CT.
WINDOW = (500 - 750, 500 + 750)


def mid_sagittal(image: sitk.Image, mask: sitk.Image) -> tuple[np.ndarray, np.ndarray, tuple]:
    """The sagittal slice through the middle of the mask, superior up, anterior left.

    Gives (image slice, mask slice, (row mm, column mm) pixel size).
    """
    image = sitk.DICOMOrient(image, "LPS")
    mask = sitk.DICOMOrient(mask, "LPS")
    img = sitk.GetArrayFromImage(image)  # (z: inferior->superior, y: anterior->posterior, x: R->L)
    lab = sitk.GetArrayFromImage(mask)
    xs = np.flatnonzero(lab.any(axis=(0, 1)))
    x = int(xs[len(xs) // 2]) if xs.size else img.shape[2] // 2
    sx, sy, sz = image.GetSpacing()
    return img[::-1, :, x], lab[::-1, :, x], (sz, sy)


def site_montage(images: list[str], masks: list[str], case_ids: list[str], title: str, out: str,
                 max_cases: int = 12) -> None:
    """Write a grid of mid-sagittal slices (one per case, at most max_cases) with mask outlines."""
    n = min(len(images), max_cases)
    cols = min(n, 4)
    rows = math.ceil(n / cols) if n else 1
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image_path, mask_path, cid in zip(axes.ravel(), images[:n], masks[:n], case_ids[:n]):
        img, lab, (h, w) = mid_sagittal(sitk.ReadImage(image_path), sitk.ReadImage(mask_path))
        extent = (0, img.shape[1] * w, 0, img.shape[0] * h)
        ax.imshow(img, cmap="gray", vmin=WINDOW[0], vmax=WINDOW[1], extent=extent)
        for value in np.unique(lab[lab > 0]):
            ax.contour((lab == value)[::-1], levels=[0.5], colors="yellow", linewidths=0.7,
                       extent=extent, origin="lower")
        ax.set_title(cid, fontsize=8)
    fig.suptitle(f"{title}: mid-sagittal CT (W1500/L500), reader-1 vertebral body outlines")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
