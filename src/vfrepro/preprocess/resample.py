"""Resample to a common voxel spacing, as IBSI asks before texture features are compared.

Image: cubic B-spline. Mask: nearest neighbour, onto exactly the image's new grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from vfrepro.errors import InputError

AIR_HU = -1024.0


def read_image(path, *, case: str | None, field: str, shown: str | None = None, what: str = "image",
               label_map: bool = False) -> sitk.Image:
    """Read a 3-D image with SimpleITK; InputError naming the case, the file (`shown`, else its
    name only: SimpleITK's own messages carry the absolute path) and `field` when it is absent,
    a folder, not an image format SimpleITK reads, or not 3-D. With `label_map`, a float
    NIfTI with NaN voxels is refused too (ITK's reader turns NaN into 0, i.e. background)."""
    p = Path(path)
    shown = shown or p.name
    if not p.exists():
        raise InputError(f"{what} file not found", case=case, path=shown, field=field)
    if p.is_dir():
        raise InputError(f"{what} path is a folder, not an image file", case=case, path=shown, field=field)
    try:
        img = sitk.ReadImage(str(p))
    except RuntimeError as exc:
        why = ("not a format SimpleITK reads" if "Unable to determine ImageIO reader" in str(exc)
               else "damaged or truncated")
        raise InputError(f"{what} cannot be read as an image ({why}; NIfTI expected)", case=case,
                         path=shown, field=field) from None
    if img.GetDimension() != 3:
        raise InputError(f"{what} is a {img.GetDimension()}-D image; a 3-D volume is expected",
                         case=case, path=shown, field=field)
    if label_map and img.GetPixelID() in (sitk.sitkFloat32, sitk.sitkFloat64):
        nan = nifti_nan_count(p)
        if nan:
            raise InputError(f"{what} has {nan} NaN voxel(s) (read as background by ITK): not a "
                             f"label map", case=case, path=shown, field=field)
    return img


def nifti_nan_count(path: str | Path) -> int:
    """NaN voxels in a float NIfTI-1 file, read from its raw data: ITK's reader turns NaN into
    0, so a NaN mask would silently read as background. 0 for other files."""
    import gzip
    import struct

    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            head = fh.read(348)
            if len(head) < 348:
                return 0
            endian = "<" if struct.unpack("<i", head[:4])[0] == 348 else ">"
            if struct.unpack(endian + "i", head[:4])[0] != 348:
                return 0  # not NIfTI-1 (NIfTI-2 and others: left to the reader)
            dtype = {16: "f4", 64: "f8"}.get(struct.unpack(endian + "h", head[70:72])[0])
            if dtype is None:
                return 0
            offset = int(struct.unpack(endian + "f", head[108:112])[0])
            fh.read(max(offset - 348, 0))
            data = np.frombuffer(fh.read(), dtype=endian + dtype)
    except (OSError, EOFError, struct.error):
        return 0
    return int(np.isnan(data).sum())


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


# ---- masks on another voxel grid of the same physical image ----

# Two grids cover "the same physical space" when every corner of one's voxel-edge box lies
# within this fraction of the image's smallest voxel spacing of a corner of the other's: a
# nearest-neighbour resampling then moves no label by a voxel. Half a voxel (0.5 mm at 1 mm).
SAME_SPACE_TOL_VOXELS = 0.5


def grid_corners(size, spacing, origin, direction) -> np.ndarray:
    """The 8 physical corners (LPS, mm) of the box a grid's voxels cover (voxel edges, so a
    flipped, permuted or differently sampled grid of the same region has the same corners)."""
    d = np.asarray(direction, float).reshape(3, 3)
    idx = np.array([[i, j, k] for i in (-0.5, size[0] - 0.5) for j in (-0.5, size[1] - 0.5)
                    for k in (-0.5, size[2] - 0.5)])
    return np.asarray(origin, float) + (idx * np.asarray(spacing, float)) @ d.T


def image_corners(img: sitk.Image) -> np.ndarray:
    return grid_corners(img.GetSize(), img.GetSpacing(), img.GetOrigin(), img.GetDirection())


def corner_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Largest distance (mm) from a corner of either box to the nearest corner of the other."""
    dist = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)
    return float(max(dist.min(axis=1).max(), dist.min(axis=0).max()))


def same_space_tolerance(spacing) -> float:
    return SAME_SPACE_TOL_VOXELS * float(min(spacing))


def fit_mask_to_image(image: sitk.Image, mask: sitk.Image, *, case: str, mask_path: str
                      ) -> tuple[sitk.Image, str]:
    """The mask on the image's grid, and a note ('' when it already was).

    A mask on another voxel grid of the same physical region (NIfTI's native axis order,
    dcm2niix's flipped axis, a permuted direction matrix) is resampled onto the image grid with
    nearest neighbour (labels kept); one that covers another region is refused, naming what
    differs (size, spacing, origin or direction) and by how many mm.
    """
    try:
        check_same_grid(image, mask, case=case, mask_path=mask_path)
        return mask, ""
    except InputError as exc:
        differs = exc.field
        tol = same_space_tolerance(image.GetSpacing())
        dist = corner_distance(image_corners(image), image_corners(mask))
        if dist > tol:
            raise InputError(
                f"mask does not cover the image's physical region: its box corners lie up to "
                f"{dist:.2f} mm from the image's (tolerance {tol:.2f} mm, half the smallest voxel); "
                f"its {differs} differs from the image's", case=case, path=mask_path,
                field=differs) from None
    out = sitk.Resample(sitk.Cast(mask, sitk.sitkUInt16), image, sitk.Transform(),
                        sitk.sitkNearestNeighbor, 0, sitk.sitkUInt16)
    return out, (f"mask on another voxel grid of the same region (its {differs} differs); "
                 f"resampled onto the image grid (nearest neighbour)")


def label_counts(mask: sitk.Image, *, case: str, mask_path: str, field: str = "mask_path"
                 ) -> dict[int, int]:
    """Voxel count of each label of a label map; InputError for what is not a label map:
    NaN, non-integer or negative values, or one label everywhere (all background, or the
    whole volume one label)."""
    arr = sitk.GetArrayViewFromImage(mask)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            n = int((~np.isfinite(arr)).sum())
            raise InputError(f"mask has {n} NaN or infinite voxel(s): not a label map", case=case,
                             path=mask_path, field=field)
        frac = arr != np.round(arr)
        if frac.any():
            example = float(arr[frac].flat[0])
            raise InputError(f"float mask with non-integer labels ({int(frac.sum())} voxel(s), e.g. "
                             f"{example:g}): a probability map? give integer labels", case=case,
                             path=mask_path, field=field)
    if arr.size and arr.min() < 0:
        raise InputError(f"mask has negative labels (min {arr.min():g}): not a label map", case=case,
                         path=mask_path, field=field)
    if arr.size and arr.max() > np.iinfo(np.uint16).max:  # preprocess keeps labels as uint16
        raise InputError(f"mask label {arr.max():g} is above 65535", case=case, path=mask_path,
                         field=field)
    flat = arr.ravel()
    counts = np.bincount(flat if flat.dtype.kind in "iu" and flat.dtype.itemsize < 8
                         else flat.astype(np.int64))
    present = {int(v): int(n) for v, n in enumerate(counts) if n}
    if len(present) == 1:
        (only,) = present
        what = "all background (label 0)" if only == 0 else f"label {only} everywhere"
        raise InputError(f"mask is one label everywhere: {what}; no vertebra is outlined", case=case,
                         path=mask_path, field=field)
    return present
