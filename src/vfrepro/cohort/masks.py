"""Label maps as NIfTI in exactly the CT series' geometry, and the second reader's perturbation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from .phantom import Grid


def to_sitk(arr: np.ndarray, grid: Grid) -> sitk.Image:
    """(z, y, x) array -> SimpleITK image with the series' spacing, origin and identity direction.

    The DICOM series is axial with IOP [1,0,0,0,1,0] and slices ascending in z, so in
    SimpleITK's LPS world its direction is the identity and its origin is voxel 0's centre.
    """
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(tuple(float(s) for s in grid.spacing))
    img.SetOrigin(tuple(float(o) for o in grid.origin))
    img.SetDirection((1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    return img


def write_label_map(arr: np.ndarray, grid: Grid, path: Path) -> None:
    """Write a uint8 label map as compressed NIfTI (.nii.gz) in the series' geometry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(to_sitk(arr.astype(np.uint8), grid), str(path), useCompression=True,
                    compressionLevel=1)   # label maps compress well even at the fastest level


def reader2(labels: np.ndarray, rng: np.random.Generator, grid: Grid) -> np.ndarray:
    """Second reader's label map: each body's outline moved by about one voxel, smoothly.

    A smooth random field (correlation ~5 mm) plus a per-vertebra bias decides where the
    reader draws one voxel outside (dilate) or inside (erode) reader 1's in-plane outline,
    and a per-vertebra coin drops one end slice of the body, as readers disagree on the
    partial-volumed endplate. Takes labels (z, y, x), Generator, Grid; gives a new array.
    """
    px = grid.spacing[0]
    out = labels.copy()
    cross = np.zeros((1, 3, 3), dtype=bool)       # in-plane 4-neighbourhood
    cross[0, 1, :] = cross[0, :, 1] = True
    for code, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        # Work in the body's bounding box grown by 2 voxels in-plane (cheap, same result).
        box = (box[0],) + tuple(slice(max(s.start - 2, 0), s.stop + 2) for s in box[1:])
        lab = labels[box]
        m = lab == code
        field = ndimage.gaussian_filter(rng.standard_normal(m.shape).astype(np.float32),
                                        (1.0, 5.0 / px, 5.0 / px))
        field /= float(field.std()) + 1e-6
        field += rng.normal(0.0, 0.35)            # this reader's bias on this vertebra
        dil = ndimage.binary_dilation(m, cross) & ~m & (lab == 0)
        ero = m & ~ndimage.binary_erosion(m, cross)
        o = out[box]
        o[dil & (field > 0.15)] = code
        o[ero & (field < -0.15)] = 0
        ks = np.nonzero(m.any(axis=(1, 2)))[0]
        if len(ks) > 4 and rng.random() < 0.5:
            # Partial-volumed endplate slice judged outside the body by reader 2.
            k = ks[0] if rng.random() < 0.5 else ks[-1]
            o[k][m[k]] = 0
    return out


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two boolean masks (1.0 when both are empty)."""
    s = int(a.sum()) + int(b.sum())
    return 1.0 if s == 0 else 2.0 * int((a & b).sum()) / s

