"""Manifest-time checks of the label maps, before any compute is spent.

Each mask file is read once (SimpleITK: header and voxels) and refused when it is not a label
map (NaN, non-integer or negative values, one label everywhere), when a row's mask_label is
absent from it, or when it covers another physical region than its CT series. The series'
region comes from a few header tags of its DICOM files (no pixel data). A mask on another
voxel grid of the same region (flipped or permuted axes) passes: preprocess resamples it onto
the image grid. A series that cannot be read or stacked is left to ingest, which names why.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from vfrepro.errors import InputError
from vfrepro.preprocess.resample import (corner_distance, grid_corners, image_corners,
                                         label_counts, read_image, same_space_tolerance)

MASK_COLUMNS = ("mask_path", "mask_reader2_path")
_TAGS = ["SeriesInstanceUID", "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing",
         "Rows", "Columns"]


def dicom_grid(folder: str | Path):
    """(size, spacing, origin, direction) of the largest series under `folder`, in ITK's
    convention as ingest writes it (origin = first slice along the normal, direction columns =
    row, column, normal); None when it cannot be told from the headers (ingest says why)."""
    import pydicom

    series: dict[str, list] = {}
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_TAGS)
            pos = np.array([float(v) for v in ds.ImagePositionPatient])
            iop = np.array([float(v) for v in ds.ImageOrientationPatient])
            ps = [float(v) for v in ds.PixelSpacing]
            shape = (int(ds.Columns), int(ds.Rows))
        except Exception:  # not DICOM, or no geometry: ingest's to judge
            continue
        series.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append((pos, iop, ps, shape))
    if not series:
        return None
    slices = max(series.values(), key=len)
    if len(slices) < 2 or any(not np.allclose(s[1], slices[0][1], atol=1e-4) or s[3] != slices[0][3]
                              for s in slices):
        return None
    row, col = slices[0][1][:3], slices[0][1][3:]
    normal = np.cross(row, col)
    if not np.isfinite(normal).all() or np.linalg.norm(normal) < 0.5:
        return None
    normal /= np.linalg.norm(normal)
    dist = np.array([np.dot(s[0], normal) for s in slices])
    order = np.argsort(dist, kind="stable")
    first, last = slices[order[0]][0], slices[order[-1]][0]
    disp = last - first
    if not np.isfinite(disp).all() or np.linalg.norm(disp) == 0 \
            or abs(np.dot(disp, normal)) / np.linalg.norm(disp) < np.cos(np.radians(0.01)):
        return None  # gantry tilt: ingest resamples the stack, preprocess compares with that
    step = float(np.median(np.diff(dist[order])))
    if step <= 0:
        return None
    size = (*slices[0][3], len(slices))
    spacing = (slices[0][2][1], slices[0][2][0], step)
    direction = tuple(np.column_stack([row, col, normal]).ravel())
    return size, spacing, tuple(first), direction


def check_masks(df: pd.DataFrame, shown: Callable[[str, int], str | None]) -> list[str]:
    """Check every mask file of a manifest table (absolute paths, case_id, mask_label, level).

    `shown(column, row index)` gives the file as a message may name it (relative to the
    manifest folder). Raises InputError at the first problem; gives notes for the log (masks
    on another voxel grid of the same region).
    """
    notes: list[str] = []
    grids: dict[str, object] = {}
    for col in [c for c in MASK_COLUMNS if c in df.columns]:
        for mask_file, rows in df.dropna(subset=[col]).groupby(col, sort=True):
            i = rows.index[0]
            case, rel = rows.at[i, "case_id"], shown(col, i)
            mask = read_image(mask_file, case=case, field=col, shown=rel, what="mask", label_map=True)
            present = label_counts(mask, case=case, mask_path=rel, field=col)
            wanted = rows[["mask_label", "level"]].drop_duplicates()
            absent = [f"{int(lab)} ({lv})" for lab, lv in zip(wanted["mask_label"], wanted["level"])
                      if int(lab) not in present]
            if absent:
                have = sorted(k for k in present if k)
                raise InputError(f"mask_label {', '.join(absent)} absent from the mask (its labels: "
                                 f"{have[:20]}{' ...' if len(have) > 20 else ''})", case=case,
                                 path=rel, field="mask_label")
            folder = rows.at[i, "dicom_dir"]
            if folder not in grids:
                grids[folder] = dicom_grid(folder)
            grid = grids[folder]
            if grid is None:
                continue
            size, spacing, origin, direction = grid
            if (tuple(mask.GetSize()) == tuple(size)
                    and np.allclose(mask.GetSpacing(), spacing, rtol=1e-3)
                    and np.allclose(mask.GetOrigin(), origin, atol=0.1 * min(spacing))
                    and np.allclose(mask.GetDirection(), direction, atol=1e-4)):
                continue
            tol = same_space_tolerance(spacing)
            dist = corner_distance(grid_corners(size, spacing, origin, direction), image_corners(mask))
            if dist > tol:
                raise InputError(
                    f"mask does not cover the CT series' physical region: its box corners lie up to "
                    f"{dist:.2f} mm from the series' (tolerance {tol:.2f} mm, half the smallest voxel; "
                    f"mask size {tuple(mask.GetSize())} vs series {tuple(size)})", case=case, path=rel,
                    field=col)
            notes.append(f"case {case}: {col} {rel} is on another voxel grid of the series' region; "
                         f"preprocess resamples it onto the image grid (nearest neighbour)")
    return notes
