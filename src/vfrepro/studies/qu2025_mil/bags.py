"""Bags of qu2025_mil: 5 axial (S) and 5 coronal (Z) slices through one vertebral body.

Input is the preprocessed CT (SimpleITK, 1 mm isotropic, axis-aligned), its vertebra label mask
and optionally the lesion label map (any grid; resampled nearest-neighbour onto the image's).
Arrays are (z, y, x) with z increasing superiorly and y increasing posteriorly (LPS, as the
synthetic cohort and the preprocess stage write them).

- S (axial) slices: planes of constant z, evenly spaced across the body's z extent at fractions
  (k + 1) / (n + 1); the crop covers the body's x extent and, in y, the body plus
  ``posterior_mm`` behind it (the posterior elements, where A0 lies), with ``margin_mm``.
- Z (coronal) slices: planes of constant y, evenly spaced across the body's y (AP) extent in the
  same way; the crop covers the body's x and z extents with ``margin_mm``.
- Crops are padded to a square (air) so that resizing to R x R keeps the aspect ratio, and
  windowed (bone window) to uint8.
- Instance label of a slice: 1 when the plane crosses a voxel of the vertebra's own lesion:
  lesion-map voxels with a fracture code that lie within the vertebra mask dilated by
  ``lesion_margin_mm`` (body lesions, retropulsed fragments) or in the box behind the body
  (posterior elements: the A0 process fracture). Schmorl's nodes and cement are not fractures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from vfrepro.cohort.labels import LESION_CODES
from vfrepro.errors import InputError

from . import labels as L

__all__ = ["BagSpec", "Bag", "FRACTURE_LESION_CODES", "CHOSEN", "window_uint8", "vertebra_bags",
           "read_vertebra_bags"]

# Lesion codes that "show the fracture": fracture lines, burst fragments, gas cleft, lytic
# destruction, impaction band, sclerotic (healed) endplate. Not: Schmorl's node, cement.
FRACTURE_LESION_CODES: tuple[int, ...] = tuple(LESION_CODES[k] for k in (
    "fracture_line", "burst_fragment", "cleft", "lytic", "impaction_band", "sclerotic_margin"))


@dataclass(frozen=True)
class BagSpec:
    """How bags are cut (defaults are chosen settings, listed in CHOSEN)."""

    n_slices: int = 5
    window_width: float = 1500.0
    window_level: float = 400.0
    margin_mm: float = 6.0
    posterior_mm: float = 45.0
    lesion_margin_mm: float = 3.0
    min_lesion_voxels: int = 1
    lesion_codes: tuple[int, ...] = FRACTURE_LESION_CODES


CHOSEN: list[tuple[str, str, str]] = [
    ("bag_size", "5 S + 5 Z slices", "the paper's case folders hold 5 s-type and 5 z-type images"),
    ("slice_positions", "fractions (k+1)/(n+1) of the body's extent (z for S, y for Z)",
     "'spaced evenly across it' without cutting the endplate or cortex tangentially"),
    ("bone_window", "W 1500 / L 400 HU -> uint8",
     "a standard bone window; the paper used bone-window CT but gives no numbers"),
    ("crop", "body extent + 6 mm margin; S adds 45 mm behind the body; padded square",
     "keeps the posterior elements (A0 lies in the spinous process) in the axial view and the "
     "aspect ratio through the 256 x 256 resize"),
    ("instance_label", "slice plane crosses a fracture-coded lesion voxel of this vertebra "
     "(mask dilated 3 mm, plus the box behind the body)",
     "the paper's 'classic' folder holds the images that show the fracture"),
    ("fracture_lesion_codes", "fracture_line, burst_fragment, cleft, lytic, impaction_band, "
     "sclerotic_margin", "Schmorl's nodes and cement occur without an AO fracture"),
]


@dataclass
class Bag:
    """One view's bag of one vertebra: images [n, H, W] uint8 and what the slices show."""

    case_id: str
    mask_label: int
    view: str                          # 'S' or 'Z'
    images: np.ndarray                 # uint8 [n, H, W], square
    positions: list[int]               # voxel index of each plane (z for S, y for Z)
    instance_labels: np.ndarray | None  # int8 [n] 0/1, None without a lesion map
    ao_type: str | None = None
    label: str | None = None           # bag label of this view (labels.bag_label)
    message: str | None = None
    meta: dict = field(default_factory=dict)


def window_uint8(hu: np.ndarray, width: float, level: float) -> np.ndarray:
    """HU -> uint8 through the window [level - width/2, level + width/2]."""
    lo = level - width / 2.0
    out = np.clip((np.asarray(hu, np.float32) - lo) / float(width), 0.0, 1.0)
    return np.round(out * 255.0).astype(np.uint8)


def _positions(lo: int, hi: int, n: int) -> list[int]:
    """n voxel indices evenly spaced across [lo, hi] at fractions (k+1)/(n+1)."""
    return [int(round(lo + (hi - lo) * (k + 1) / (n + 1))) for k in range(n)]


def _square(img: np.ndarray, fill: int = 0) -> np.ndarray:
    """Pad a 2-D array to a square, centred."""
    h, w = img.shape
    s = max(h, w)
    out = np.full((s, s), fill, img.dtype)
    y0, x0 = (s - h) // 2, (s - w) // 2
    out[y0:y0 + h, x0:x0 + w] = img
    return out


def _check_grid(image: sitk.Image, other: sitk.Image, *, case, path, what) -> None:
    if image.GetSize() != other.GetSize():
        raise InputError(f"{what} size {other.GetSize()} differs from image size {image.GetSize()}",
                         case=case, path=path, field="size")
    if not np.allclose(image.GetSpacing(), other.GetSpacing(), rtol=1e-3):
        raise InputError(f"{what} spacing {other.GetSpacing()} differs from image spacing "
                         f"{image.GetSpacing()}", case=case, path=path, field="spacing")


def _axis_aligned(image: sitk.Image, *, case, path) -> None:
    d = np.asarray(image.GetDirection(), float).reshape(3, 3)
    if not np.allclose(d, np.eye(3), atol=1e-3):
        raise InputError("image direction is not the identity (axis-aligned LPS); bags need "
                         "axial = constant z and coronal = constant y", case=case, path=path,
                         field="direction")


def vertebra_bags(image: sitk.Image, mask: sitk.Image, mask_label: int,
                  lesion: sitk.Image | None = None, *, case: str = "", ao_type: str | None = None,
                  spec: BagSpec = BagSpec(), image_path: str | None = None,
                  mask_path: str | None = None, lesion_path: str | None = None) -> dict[str, Bag]:
    """The S and Z bags of vertebra `mask_label`: {'S': Bag, 'Z': Bag}.

    `lesion` may be on any grid (nearest-neighbour resampled onto the image's); without it the
    instance labels are None and each bag carries a message. With `ao_type` the bag labels are
    filled (labels.bag_label). Errors (InputError) name the case, the file and the field.
    """
    _axis_aligned(image, case=case, path=image_path)
    _check_grid(image, mask, case=case, path=mask_path, what="mask")
    sp = np.asarray(image.GetSpacing(), float)      # (x, y, z)
    hu = sitk.GetArrayViewFromImage(image)
    lab = sitk.GetArrayViewFromImage(mask)
    vert = lab == int(mask_label)
    if not vert.any():
        raise InputError(f"vertebra label {mask_label} is absent from the mask", case=case,
                         path=mask_path, field="mask_label")
    zz, yy, xx = np.nonzero(vert)
    z0, z1, y0, y1, x0, x1 = zz.min(), zz.max(), yy.min(), yy.max(), xx.min(), xx.max()
    nz, ny, nx = hu.shape
    mx, my, mz = (int(np.ceil(spec.margin_mm / s)) for s in sp)
    cx0, cx1 = max(0, x0 - mx), min(nx - 1, x1 + mx)

    own = None
    message = None
    if lesion is not None:
        if lesion.GetSize() != image.GetSize() or not np.allclose(lesion.GetOrigin(), image.GetOrigin(), atol=0.1) \
                or not np.allclose(lesion.GetSpacing(), image.GetSpacing(), rtol=1e-3):
            lesion = sitk.Resample(sitk.Cast(lesion, sitk.sitkUInt8), image, sitk.Transform(),
                                   sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        les = sitk.GetArrayViewFromImage(lesion)
        frac = np.isin(les, np.asarray(spec.lesion_codes))
        r = [int(np.ceil(spec.lesion_margin_mm / s)) for s in sp[::-1]]       # (z, y, x) voxels
        bz0, bz1 = max(0, z0 - r[0]), min(nz, z1 + r[0] + 1)
        by0, by1 = max(0, y0 - r[1]), min(ny, y1 + r[1] + 1)
        bx0, bx1 = max(0, x0 - r[2]), min(nx, x1 + r[2] + 1)
        near = np.zeros(hu.shape, bool)
        struct = np.ones([2 * k + 1 for k in r], bool)
        near[bz0:bz1, by0:by1, bx0:bx1] = ndimage.binary_dilation(vert[bz0:bz1, by0:by1, bx0:bx1],
                                                                  structure=struct)
        # Posterior elements: the box behind the body, over the body's z and x extent.
        py1 = min(ny, y1 + 1 + int(np.ceil(spec.posterior_mm / sp[1])))
        near[bz0:bz1, y1 + 1:py1, bx0:bx1] = True
        own = frac & near
    else:
        message = (f"case {case}: no lesion map, instance labels unknown; instance-level "
                   "outputs are skipped")

    def instance(planes, axis):
        if own is None:
            return None
        counts = own.sum(axis=tuple(a for a in range(3) if a != axis))
        return np.array([int(counts[p] >= spec.min_lesion_voxels) for p in planes], np.int8)

    # S: axial planes z = const, crop y (body + posterior), x.
    zs = _positions(z0, z1, spec.n_slices)
    sy0, sy1 = max(0, y0 - my), min(ny - 1, y1 + int(np.ceil(spec.posterior_mm / sp[1])))
    s_img = np.stack([_square(window_uint8(hu[z, sy0:sy1 + 1, cx0:cx1 + 1], spec.window_width,
                                           spec.window_level)) for z in zs])
    # Z: coronal planes y = const, crop z, x; flipped so superior is at the top of the image.
    ys = _positions(y0, y1, spec.n_slices)
    cz0, cz1 = max(0, z0 - mz), min(nz - 1, z1 + mz)
    z_img = np.stack([_square(window_uint8(hu[cz0:cz1 + 1, y, cx0:cx1 + 1][::-1], spec.window_width,
                                           spec.window_level)) for y in ys])
    out = {}
    for view, imgs, planes, axis in (("S", s_img, zs, 0), ("Z", z_img, ys, 1)):
        inst = instance(planes, axis)
        b = Bag(case_id=case, mask_label=int(mask_label), view=view, images=imgs, positions=planes,
                instance_labels=inst, ao_type=ao_type, message=message,
                meta={"crop": (int(sy0), int(sy1), int(cx0), int(cx1)) if view == "S"
                      else (int(cz0), int(cz1), int(cx0), int(cx1))})
        if ao_type is not None:
            b.label = L.bag_label(view, ao_type, inst)
        out[view] = b
    return out


def _read(path, *, case, field):
    p = Path(str(path))
    if not p.is_file():
        raise InputError("file not found", case=case, path=str(p), field=field)
    try:
        return sitk.ReadImage(str(p))
    except RuntimeError as e:
        raise InputError(f"unreadable image: {str(e).splitlines()[0] if str(e) else e}",
                         case=case, path=str(p), field=field) from None


def read_vertebra_bags(row: dict, preprocess_dir: str | Path, spec: BagSpec = BagSpec(),
                       image_name: str = "image.nii.gz",
                       mask_name: str = "mask_reader1.nii.gz") -> dict[str, Bag]:
    """Bags of one manifest row (case_id, mask_label, ao_type, optional lesion_path) from
    ``<preprocess_dir>/<case_id>/{image,mask_reader1}.nii.gz``. A blank lesion_path gives bags
    without instance labels (with a message); a named but missing one is an InputError."""
    case = str(row.get("case_id", ""))
    for col in ("case_id", "mask_label", "ao_type"):
        v = row.get(col)
        if v is None or (isinstance(v, float) and np.isnan(v)) or str(v) == "":
            raise InputError(f"manifest column {col} is blank", case=case, field=col)
    try:
        label = int(row["mask_label"])
    except (TypeError, ValueError):
        raise InputError(f"mask_label {row['mask_label']!r} is not an integer", case=case,
                         field="mask_label") from None
    ao = str(row["ao_type"])
    if ao not in L.AO_CLASSES:
        raise InputError(f"ao_type {ao!r} is not one of {L.AO_CLASSES}", case=case, field="ao_type")
    d = Path(preprocess_dir) / case
    img_p, mask_p = d / image_name, d / mask_name
    image = _read(img_p, case=case, field="image")
    mask = _read(mask_p, case=case, field="mask_path")
    lp = row.get("lesion_path")
    has_lesion = lp is not None and not (isinstance(lp, float) and np.isnan(lp)) and str(lp) != ""
    lesion = _read(lp, case=case, field="lesion_path") if has_lesion else None
    return vertebra_bags(image, mask, label, lesion, case=case, ao_type=ao, spec=spec,
                         image_path=str(img_p), mask_path=str(mask_p),
                         lesion_path=str(lp) if has_lesion else None)
