"""Convert one checked DICOM series into a SimpleITK image with the geometry it had.

Pixel data are decoded by SimpleITK's GDCM (JPEG, JPEG-LS, JPEG 2000, RLE all work there),
one file at a time, with RescaleSlope/Intercept applied; the volume is then assembled in
the order and geometry that `order_slices` established, not the one GDCM guesses.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from vfrepro.ingest.geometry import GeometryError, StackGeometry


def _read_slice(path) -> np.ndarray:
    img = sitk.ReadImage(str(path), sitk.sitkFloat32)
    arr = sitk.GetArrayFromImage(img)
    return arr[0] if arr.ndim == 3 else arr


def read_volume(geom: StackGeometry) -> np.ndarray:
    """Decode every slice in stack order; give a float32 array shaped (z, y, x)."""
    return np.stack([_read_slice(s.path) for s in geom.slices]).astype(np.float32)


def correct_tilt(volume: np.ndarray, geom: StackGeometry, fill: float) -> np.ndarray:
    """Shift each slice in its plane so that the stack becomes orthogonal to the normal.

    A tilted acquisition places slice k at in-plane offset o_k from slice 0; sampling slice
    k at (i - o_k/dx, j - o_k/dy) puts every voxel where the orthogonal grid says it is.
    Linear interpolation, so no value leaves the range of its neighbours.
    """
    dx, dy = geom.spacing_xy
    out = np.empty_like(volume)
    for k, (o_row, o_col) in enumerate(geom.in_plane_offsets):
        out[k] = ndimage.shift(volume[k], shift=(o_col / dy, o_row / dx), order=1, mode="constant",
                               cval=fill)
    return out


def to_image(volume: np.ndarray, geom: StackGeometry, *, tilt_corrected: bool) -> sitk.Image:
    """Wrap a (z, y, x) array in the stack's physical geometry (LPS, as DICOM and ITK use)."""
    if geom.tilt_deg > 0.01 and not tilt_corrected:
        raise GeometryError("a tilted stack has no orthogonal geometry; correct the tilt first")
    values = volume
    if np.all(np.isfinite(values)) and np.allclose(values, np.round(values)) \
            and values.min() >= -32768 and values.max() <= 32767:
        img = sitk.GetImageFromArray(np.round(values).astype(np.int16))
    else:
        img = sitk.GetImageFromArray(values.astype(np.float32))
    img.SetSpacing((geom.spacing_xy[0], geom.spacing_xy[1], geom.slice_step))
    img.SetOrigin(tuple(float(v) for v in geom.slices[0].position))
    direction = np.column_stack([geom.row_dir, geom.col_dir, geom.normal])
    img.SetDirection(tuple(float(v) for v in direction.ravel()))
    return img
