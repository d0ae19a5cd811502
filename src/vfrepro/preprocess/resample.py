"""Resample to a common voxel spacing, as IBSI asks before texture features are compared.

Image: cubic B-spline. Mask: nearest neighbour, onto exactly the image's new grid.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from vfrepro.errors import InputError

AIR_HU = -1024.0


def target_grid(image: sitk.Image, spacing: tuple[float, float, float]) -> sitk.Image:
    """An empty image that covers `image`'s extent at `spacing`, same origin and direction."""
    old_spacing = np.array(image.GetSpacing())
    new_spacing = np.array(spacing, dtype=float)
    size = np.maximum(1, np.round(np.array(image.GetSize()) * old_spacing / new_spacing)).astype(int)
    ref = sitk.Image([int(s) for s in size], sitk.sitkUInt8)
    ref.SetSpacing(tuple(float(s) for s in new_spacing))
    ref.SetOrigin(image.GetOrigin())
    ref.SetDirection(image.GetDirection())
    return ref


def resample_image(image: sitk.Image, reference: sitk.Image, fill: float = AIR_HU) -> sitk.Image:
    """Cubic B-spline resampling of `image` onto `reference`'s grid, float32, air outside."""
    return sitk.Resample(sitk.Cast(image, sitk.sitkFloat32), reference, sitk.Transform(),
                         sitk.sitkBSpline, fill, sitk.sitkFloat32)


def resample_mask(mask: sitk.Image, reference: sitk.Image) -> sitk.Image:
    """Nearest-neighbour resampling of a label map onto `reference`'s grid (labels kept)."""
    return sitk.Resample(sitk.Cast(mask, sitk.sitkUInt16), reference, sitk.Transform(),
                         sitk.sitkNearestNeighbor, 0, sitk.sitkUInt16)


def check_same_grid(image: sitk.Image, mask: sitk.Image, *, case: str, mask_path: str,
                    rel_tol: float = 1e-3) -> None:
    """Raise InputError naming the field (size, spacing, origin, direction) where mask and image differ."""
    if image.GetSize() != mask.GetSize():
        raise InputError(f"mask size {mask.GetSize()} differs from image size {image.GetSize()}",
                         case=case, path=mask_path, field="size")
    spacing_i, spacing_m = np.array(image.GetSpacing()), np.array(mask.GetSpacing())
    if not np.allclose(spacing_i, spacing_m, rtol=rel_tol):
        raise InputError(f"mask spacing {tuple(spacing_m.round(4))} differs from image spacing "
                         f"{tuple(spacing_i.round(4))}", case=case, path=mask_path, field="spacing")
    # Origins may differ by rounding in the writers; a tenth of a voxel is the limit.
    shift = np.abs(np.array(image.GetOrigin()) - np.array(mask.GetOrigin()))
    if np.any(shift > 0.1 * spacing_i.min()):
        raise InputError(f"mask origin {tuple(np.round(mask.GetOrigin(), 3))} differs from image origin "
                         f"{tuple(np.round(image.GetOrigin(), 3))}", case=case, path=mask_path,
                         field="origin")
    if not np.allclose(image.GetDirection(), mask.GetDirection(), atol=1e-4):
        raise InputError("mask direction cosines differ from the image's", case=case, path=mask_path,
                         field="direction")


def label_volumes(mask: sitk.Image, labels: dict[int, str], *, case: str, mask_path: str,
                  min_voxels: int) -> dict[str, int]:
    """Voxel count of each wanted label; InputError for an empty or tiny one, named by level."""
    arr = sitk.GetArrayViewFromImage(mask)
    counts = np.bincount(arr.ravel(), minlength=max(labels) + 1)
    out = {}
    for label, level in labels.items():
        n = int(counts[label]) if label < counts.size else 0
        if n == 0:
            raise InputError(f"vertebra {level} (label {label}) is empty in the mask", case=case,
                             path=mask_path, field="mask_label")
        if n < min_voxels:
            raise InputError(f"vertebra {level} (label {label}) has only {n} voxels after resampling "
                             f"(min_mask_voxels={min_voxels})", case=case, path=mask_path,
                             field="mask_label")
        out[level] = n
    return out
