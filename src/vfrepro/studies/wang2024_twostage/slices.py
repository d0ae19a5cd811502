"""Sagittal CT slices with vertebra boxes and per-vertebra disease labels (wang2024_twostage).

From a preprocessed CT, its vertebral-body label map and (optionally) the lesion label map, a
few sagittal slices per patient are cut through the vertebral bodies, mapped to 8 bit as the
paper converted DICOM to JPEG (per slice: min -> 0, max -> 255, linear), given one box per
vertebra present on the slice and a multi-label disease vector per box (OVCF, OF, SN, KD, PS;
all zero = normal), then centre-cropped / zero-padded to a square input with the boxes shifted.

Orientation: arrays are SimpleITK order ``[z, y, x]`` on an LPS grid with identity direction
(as the preprocess stage writes it).  A sagittal slice is ``vol[:, :, x]`` with rows flipped so
that superior is up, columns = y (anterior left, posterior right).  Boxes are ``x0, y0, x1, y1``
in pixel-edge coordinates (column/row of the first pixel, one past the last), as torchvision
expects for continuous boxes.

Everything here computes and returns; nothing is written.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from vfrepro.cohort import labels as L
from vfrepro.errors import InputError

DISEASES: tuple[str, ...] = ("ovcf", "of", "sn", "kd", "ps")
CLASSES: tuple[str, ...] = DISEASES + ("normal",)

# Which lesion-map codes show which disease on a slice.  The manifest flag says *whether* the
# vertebra has the disease; the lesion map says *where* (which slices).  Fracture lines and
# burst fragments occur in both acute (OVCF) and chronic (OF) fractures, so the flag decides.
DISEASE_LESION_CODES: dict[str, tuple[int, ...]] = {
    "ovcf": (L.LESION_CODES["fracture_line"], L.LESION_CODES["burst_fragment"],
             L.LESION_CODES["impaction_band"]),
    "of": (L.LESION_CODES["sclerotic_margin"], L.LESION_CODES["fracture_line"],
           L.LESION_CODES["burst_fragment"]),
    "sn": (L.LESION_CODES["schmorl_node"],),
    "kd": (L.LESION_CODES["cleft"],),
    "ps": (L.LESION_CODES["cement"],),
}

# (setting, value, reason): the readings of the paper this module takes.
CHOSEN: list[tuple[str, object, str]] = [
    ("slice_orientation", "vol[::-1, :, x]: superior up, anterior left",
     "the paper's sagittal reconstructions; LPS grid from preprocess"),
    ("slice_selection", "n_slices evenly spaced over the central slice_span of the labelled bodies' "
     "left-right extent", "paper: ~10 slices per patient (8,548 / 819) through the vertebrae; "
     "the central part keeps every slice through the bodies, not their lateral rim"),
    ("uint8_mapping", "per slice, linear min -> 0, max -> 255, rounded; constant slice -> 0",
     "Appendix 1: 'linear mapping of the values in the DICOM image to a minimum of 0 and a maximum "
     "of 255'; done on the slice before crop/pad, pad value 0"),
    ("box_source", "bounding box of the vertebral-body label on the slice, pixel edges",
     "paper boxes are per vertebra (body); the synthetic and real label maps mark bodies"),
    ("min_box_px", "both sides >= min_box_px after crop/pad (paper preset 8, demo 4)",
     "a vertebra grazed by a slice or cut by the crop is no annotation a surgeon would draw"),
    ("disease_on_slice", "flag AND >= min_lesion_px lesion pixels of that disease inside the "
     "vertebra's label on the slice (disease_scope='lesion')",
     "surgeons annotated each slice independently; a disease counts where it is seen"),
    ("disease_scope_without_lesion_map", "'vertebra': the flags hold on every slice of the vertebra",
     "a real cohort without a lesion map has only per-vertebra flags"),
    ("lesion_codes", {k: list(v) for k, v in DISEASE_LESION_CODES.items()},
     "fracture line / fragment are shared by OVCF and OF; the manifest flag decides which"),
    ("pathologic_fracture", "not a wang disease (lytic code 6 ignored); such vertebrae are normal "
     "unless another flag is set", "the paper excluded tumour fractures"),
    ("square_input", "centre crop / zero pad each axis to input_size (1024 paper, demo smaller), "
     "boxes shifted and clipped", "paper: 'center-cropping and zero-padding ... 1,024x1,024'"),
    ("z_margin_mm", "None (paper preset); demo may crop rows to the labelled bodies +- margin",
     "the synthetic grid shows a third of an unlabelled neighbour above and below: unboxed "
     "vertebrae a detector would be punished for"),
]


@dataclass(frozen=True)
class SliceConfig:
    """Settings of slice extraction (see CHOSEN for why)."""

    n_slices: int = 10
    slice_span: float = 0.6
    input_size: int = 1024
    min_box_px: int = 8
    min_lesion_px: int = 3
    disease_scope: str = "lesion"         # "lesion" (needs a lesion map) or "vertebra"
    z_margin_mm: float | None = None      # crop rows to labelled bodies +- margin (None = no crop)

    def __post_init__(self):
        if self.n_slices < 1:
            raise InputError(f"n_slices must be >= 1, got {self.n_slices}", field="n_slices")
        if not 0 < self.slice_span <= 1:
            raise InputError(f"slice_span must be in (0, 1], got {self.slice_span}", field="slice_span")
        if self.input_size < 8:
            raise InputError(f"input_size must be >= 8, got {self.input_size}", field="input_size")
        if self.disease_scope not in ("lesion", "vertebra"):
            raise InputError(f"disease_scope must be 'lesion' or 'vertebra', got {self.disease_scope!r}",
                             field="disease_scope")

    @classmethod
    def from_dict(cls, d: dict | None) -> "SliceConfig":
        """SliceConfig from a config block; unknown keys raise InputError naming the key."""
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        bad = sorted(set(d) - known)
        if bad:
            raise InputError(f"unknown slice setting(s) {bad}; known: {sorted(known)}", field=bad[0])
        return cls(**d)

    def as_dict(self) -> dict:
        return asdict(self)


PAPER_PRESET = SliceConfig()
DEMO_PRESET = SliceConfig(n_slices=5, slice_span=0.6, input_size=160, min_box_px=4,
                          min_lesion_px=3, z_margin_mm=4.0)


@dataclass
class SagittalSlice:
    """One 8-bit square sagittal slice with its vertebra boxes and multi-label targets."""

    case_id: str
    x_index: int                      # left-right voxel index of the slice in the volume
    image: np.ndarray                 # uint8 [S, S]
    boxes: np.ndarray                 # float32 [n, 4] x0, y0, x1, y1 (pixels of `image`)
    levels: tuple[str, ...]           # vertebra level per box
    labels: np.ndarray                # uint8 [n, 5] over DISEASES
    shift: tuple[int, int]            # (row, col) added to source coordinates by crop/pad

    @property
    def normal(self) -> np.ndarray:
        """1 where a box has none of the five diseases."""
        return (self.labels.sum(axis=1) == 0).astype(np.uint8)


# ----------------------------------------------------------------------------- pure helpers

def to_uint8(img: np.ndarray) -> np.ndarray:
    """Linear per-image mapping min -> 0, max -> 255 (rounded); a constant image gives zeros."""
    a = np.asarray(img, dtype=np.float64)
    if a.size == 0:
        return np.zeros(a.shape, np.uint8)
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        return np.zeros(a.shape, np.uint8)
    out = np.round((a - lo) * (255.0 / (hi - lo)))
    return np.clip(np.nan_to_num(out), 0, 255).astype(np.uint8)


def sagittal(vol: np.ndarray, x: int) -> np.ndarray:
    """Sagittal slice ``x`` of a ``[z, y, x]`` volume, superior row first."""
    return np.ascontiguousarray(vol[::-1, :, x])


def select_slices(body_mask: np.ndarray, n_slices: int, span: float) -> list[int]:
    """x indices of n_slices evenly spaced over the central `span` of body_mask's x extent."""
    xs = np.flatnonzero(np.asarray(body_mask).any(axis=(0, 1)))
    if xs.size == 0:
        return []
    lo, hi = float(xs.min()), float(xs.max())
    c, half = 0.5 * (lo + hi), 0.5 * span * (hi - lo)
    pos = [c] if n_slices == 1 else np.linspace(c - half, c + half, n_slices)
    return sorted({int(round(p)) for p in pos})


def label_box(mask2d: np.ndarray) -> tuple[int, int, int, int] | None:
    """Pixel-edge box (x0, y0, x1, y1) of the True pixels, or None when there are none."""
    rows = np.flatnonzero(mask2d.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask2d.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def fit_square(image: np.ndarray, boxes: np.ndarray, size: int):
    """Centre crop / zero pad a 2-D image to size x size; boxes shifted and clipped.

    Gives (image [size, size] same dtype, boxes float32 [n, 4], (row_shift, col_shift)), where a
    source pixel (r, c) lands at (r + row_shift, c + col_shift).  Odd remainders go to the end
    (pad) or are cut from the end (crop).
    """
    h, w = image.shape
    out = np.zeros((size, size), dtype=image.dtype)
    shifts, src, dst = [], [], []
    for n in (h, w):
        if n >= size:
            off = (n - size) // 2
            shifts.append(-off)
            src.append(slice(off, off + size))
            dst.append(slice(0, size))
        else:
            off = (size - n) // 2
            shifts.append(off)
            src.append(slice(0, n))
            dst.append(slice(off, off + n))
    out[dst[0], dst[1]] = image[src[0], src[1]]
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
    b[:, [0, 2]] += shifts[1]
    b[:, [1, 3]] += shifts[0]
    np.clip(b, 0, size, out=b)
    return out, b, (int(shifts[0]), int(shifts[1]))


# ----------------------------------------------------------------------------- one case

def _vertebra_table(rows: pd.DataFrame, case_id: str, manifest_path: str | None) -> pd.DataFrame:
    """Check the manifest rows of one case: mask_label, level and the five flags (0/1)."""
    need = ["mask_label", "level", *DISEASES]
    for col in need:
        if col not in rows.columns:
            raise InputError(f"manifest lacks column {col!r} needed by wang2024_twostage",
                             case=case_id, path=manifest_path, field=col)
    out = rows[need].copy()
    for col in ("mask_label", *DISEASES):
        vals = pd.to_numeric(out[col], errors="coerce")
        if vals.isna().any():
            raise InputError(f"non-numeric or missing {col} for level(s) "
                             f"{out.loc[vals.isna(), 'level'].tolist()}", case=case_id,
                             path=manifest_path, field=col)
        out[col] = vals.astype(int)
    for col in DISEASES:
        bad = ~out[col].isin((0, 1))
        if bad.any():
            raise InputError(f"{col} must be 0/1, got {sorted(out.loc[bad, col].unique().tolist())}",
                             case=case_id, path=manifest_path, field=col)
    if out["mask_label"].duplicated().any():
        raise InputError("a mask_label occurs twice for one case", case=case_id, path=manifest_path,
                         field="mask_label")
    return out.reset_index(drop=True)


def extract_case_slices(case_id: str, ct: np.ndarray, labels: np.ndarray, verts: pd.DataFrame,
                        cfg: SliceConfig = PAPER_PRESET, lesions: np.ndarray | None = None, *,
                        spacing_z: float = 1.0, mask_path: str | None = None,
                        manifest_path: str | None = None) -> list[SagittalSlice]:
    """Sagittal slices of one case from arrays ``[z, y, x]`` on one grid.

    `verts`: the case's manifest rows (mask_label, level, ovcf..ps).  `lesions`: the lesion label
    map on the same grid, or None (then flags hold on every slice: disease_scope 'vertebra').
    """
    ct, labels = np.asarray(ct), np.asarray(labels)
    if ct.shape != labels.shape or ct.ndim != 3:
        raise InputError(f"CT shape {ct.shape} and label map shape {labels.shape} must be equal 3-D",
                         case=case_id, path=mask_path, field="size")
    if lesions is not None and np.asarray(lesions).shape != ct.shape:
        raise InputError(f"lesion map shape {np.asarray(lesions).shape} differs from CT {ct.shape}",
                         case=case_id, field="lesion_path")
    vt = _vertebra_table(verts, case_id, manifest_path)
    present = set(np.unique(labels).tolist())
    missing = [f"{lv} (label {c})" for c, lv in zip(vt["mask_label"], vt["level"]) if c not in present]
    if missing:
        raise InputError(f"vertebra(e) {missing} absent from the label map", case=case_id,
                         path=mask_path, field="mask_label")
    codes = vt["mask_label"].to_numpy()
    body = np.isin(labels, codes)
    scope = cfg.disease_scope if lesions is not None else "vertebra"
    # Rows to keep (after the superior-up flip) when cropping to the labelled bodies.
    zrows = np.flatnonzero(body.any(axis=(1, 2)))
    nz = ct.shape[0]
    r0, r1 = 0, nz
    if cfg.z_margin_mm is not None and zrows.size:
        m = int(round(cfg.z_margin_mm / spacing_z))
        z_lo, z_hi = max(0, int(zrows.min()) - m), min(nz, int(zrows.max()) + 1 + m)
        r0, r1 = nz - z_hi, nz - z_lo
    lesion_sets = {d: np.asarray(DISEASE_LESION_CODES[d]) for d in DISEASES}
    out: list[SagittalSlice] = []
    for x in select_slices(body, cfg.n_slices, cfg.slice_span):
        img = to_uint8(sagittal(ct, x)[r0:r1])
        lab2 = sagittal(labels, x)[r0:r1]
        les2 = sagittal(lesions, x)[r0:r1] if lesions is not None else None
        boxes, levels, ys = [], [], []
        for _, v in vt.iterrows():
            m2 = lab2 == v["mask_label"]
            bx = label_box(m2)
            if bx is None:
                continue
            y = np.zeros(len(DISEASES), np.uint8)
            for k, d in enumerate(DISEASES):
                if not v[d]:
                    continue
                if scope == "vertebra":
                    y[k] = 1
                else:
                    y[k] = int(np.count_nonzero(m2 & np.isin(les2, lesion_sets[d])) >= cfg.min_lesion_px)
            boxes.append(bx)
            levels.append(str(v["level"]))
            ys.append(y)
        sq, b, shift = fit_square(img, np.asarray(boxes, np.float32).reshape(-1, 4), cfg.input_size)
        keep = ((b[:, 2] - b[:, 0]) >= cfg.min_box_px) & ((b[:, 3] - b[:, 1]) >= cfg.min_box_px)
        out.append(SagittalSlice(
            case_id=case_id, x_index=int(x), image=sq, boxes=b[keep],
            levels=tuple(lv for lv, k in zip(levels, keep) if k),
            labels=(np.asarray(ys, np.uint8).reshape(-1, len(DISEASES))[keep]),
            shift=(int(shift[0] - r0), int(shift[1]))))
    return out


def _read(path, case_id: str, field: str):
    import SimpleITK as sitk
    p = Path(path)
    if not p.is_file():
        raise InputError("file not found", case=case_id, path=str(p), field=field)
    try:
        return sitk.ReadImage(str(p))
    except RuntimeError as e:  # SimpleITK raises RuntimeError on unreadable files
        raise InputError(f"cannot read image: {str(e).splitlines()[0][:200]}", case=case_id,
                         path=str(p), field=field) from e


def load_case_arrays(case_id: str, image_path, mask_path, lesion_path=None):
    """CT, label map and lesion map as ``[z, y, x]`` arrays on the CT's grid, plus z spacing.

    The label map must already share the CT grid (the preprocess stage's output); the lesion map
    (written on the acquisition grid by the cohort) is resampled nearest-neighbour onto it.
    """
    import SimpleITK as sitk

    from vfrepro.preprocess.resample import check_same_grid, resample_mask

    img = _read(image_path, case_id, "image")
    msk = _read(mask_path, case_id, "mask_path")
    check_same_grid(img, msk, case=case_id, mask_path=str(mask_path))
    ct = sitk.GetArrayFromImage(img).astype(np.float32)
    lab = sitk.GetArrayFromImage(msk).astype(np.int32)
    les = None
    if lesion_path is not None and str(lesion_path) not in ("", "nan"):
        lim = _read(lesion_path, case_id, "lesion_path")
        same = (lim.GetSize() == img.GetSize()
                and np.allclose(lim.GetSpacing(), img.GetSpacing(), rtol=1e-4)
                and np.allclose(lim.GetOrigin(), img.GetOrigin(), atol=1e-3)
                and np.allclose(lim.GetDirection(), img.GetDirection(), atol=1e-5))
        if not same:
            lim = resample_mask(lim, img)
        les = sitk.GetArrayFromImage(lim).astype(np.int32)
    return ct, lab, les, float(img.GetSpacing()[2])


def case_slices(case_id: str, image_path, mask_path, verts: pd.DataFrame,
                cfg: SliceConfig = PAPER_PRESET, lesion_path=None, *,
                manifest_path: str | None = None) -> list[SagittalSlice]:
    """Read one case's files and extract its slices (see extract_case_slices)."""
    ct, lab, les, sz = load_case_arrays(case_id, image_path, mask_path, lesion_path)
    return extract_case_slices(case_id, ct, lab, verts, cfg, les, spacing_z=sz,
                               mask_path=str(mask_path), manifest_path=manifest_path)


def manifest_slices(manifest: pd.DataFrame, preprocess_dir, cfg: SliceConfig = PAPER_PRESET, *,
                    mask_name: str = "mask_reader1.nii.gz", image_name: str = "image.nii.gz",
                    manifest_path: str | None = None, cases=None) -> list[SagittalSlice]:
    """Slices of every case of a validated manifest from ``<preprocess_dir>/<case>/{image,mask}``.

    The lesion map comes from the manifest's ``lesion_path`` where that column exists and is set.
    """
    if "case_id" not in manifest.columns:
        raise InputError("manifest lacks column 'case_id'", path=manifest_path, field="case_id")
    out: list[SagittalSlice] = []
    for cid, rows in manifest.groupby("case_id", sort=True):
        if cases is not None and cid not in cases:
            continue
        d = Path(preprocess_dir) / str(cid)
        les = rows["lesion_path"].iloc[0] if "lesion_path" in rows.columns else None
        les = None if les is None or pd.isna(les) or str(les) == "" else les
        out.extend(case_slices(str(cid), d / image_name, d / mask_name, rows, cfg, les,
                               manifest_path=manifest_path))
    return out


def slices_table(slices: list[SagittalSlice]) -> pd.DataFrame:
    """One row per (case, slice, box): case_id, x_index, slice_id, level, x0..y1, flags, normal."""
    recs = []
    for s in slices:
        sid = f"{s.case_id}_x{s.x_index:03d}"
        for b, lv, y in zip(s.boxes, s.levels, s.labels):
            recs.append({"case_id": s.case_id, "x_index": s.x_index, "slice_id": sid, "level": lv,
                         "x0": float(b[0]), "y0": float(b[1]), "x1": float(b[2]), "y1": float(b[3]),
                         **{d: int(v) for d, v in zip(DISEASES, y)}, "normal": int(y.sum() == 0)})
    cols = ["case_id", "x_index", "slice_id", "level", "x0", "y0", "x1", "y1", *DISEASES, "normal"]
    return pd.DataFrame.from_records(recs, columns=cols)
