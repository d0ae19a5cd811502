"""Order slices along the slice normal and check that they form a regular volume.

Each check returns a reason a person can act on. Gantry tilt is measured from the
positions (the angle between the slice step and the slice normal), not trusted from
the GantryDetectorTilt tag, which many scanners leave out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vfrepro.ingest.series import Series, SliceHeader


class GeometryError(Exception):
    """A series that cannot be stacked into a regular volume; the message says why."""


@dataclass
class StackGeometry:
    """Geometry of an ordered stack: slices sorted along the normal."""

    slices: list[SliceHeader]
    row_dir: np.ndarray
    col_dir: np.ndarray
    normal: np.ndarray
    spacing_xy: tuple[float, float]  # (along row direction, along column direction), ITK order
    steps: np.ndarray  # distances between consecutive slices along the normal (mm)
    slice_step: float  # the regular step, median of steps
    tilt_deg: float  # angle between the slice-to-slice displacement and the normal
    in_plane_offsets: np.ndarray  # per slice, (along row dir, along col dir) offset from slice 0 (mm)

    @property
    def size(self) -> tuple[int, int, int]:
        return (self.slices[0].columns, self.slices[0].rows, len(self.slices))


def order_slices(series: Series, *, orientation_tol: float = 1e-4, duplicate_tol: float = 1e-3,
                 spacing_rel_tol: float = 0.05) -> StackGeometry:
    """Sort a series along its slice normal and check it; raise GeometryError with the reason.

    Checks, in order: one orientation, one matrix size and pixel spacing, at least two
    slices, no duplicate positions, no missing slice, even spacing (relative tolerance
    `spacing_rel_tol` of the median step).
    """
    slices = series.slices
    if len(slices) < 2:
        raise GeometryError(f"only {len(slices)} slice: not a volume")
    ref = slices[0]
    for s in slices[1:]:
        if (np.abs(s.row_dir - ref.row_dir).max() > orientation_tol
                or np.abs(s.col_dir - ref.col_dir).max() > orientation_tol):
            angle = np.degrees(np.arccos(np.clip(abs(np.dot(np.cross(s.row_dir, s.col_dir),
                                                           np.cross(ref.row_dir, ref.col_dir))), -1, 1)))
            raise GeometryError(f"mixed slice orientations (ImageOrientationPatient differs by "
                                f"{angle:.2f} degrees between {ref.path.name} and {s.path.name})")
        if (s.rows, s.columns) != (ref.rows, ref.columns):
            raise GeometryError(f"mixed matrix sizes ({ref.rows}x{ref.columns} vs {s.rows}x{s.columns})")
        if not np.allclose(s.pixel_spacing, ref.pixel_spacing, rtol=1e-4):
            raise GeometryError(f"mixed PixelSpacing ({ref.pixel_spacing} vs {s.pixel_spacing})")

    normal = np.cross(ref.row_dir, ref.col_dir)
    normal /= np.linalg.norm(normal)
    dist = np.array([np.dot(s.position, normal) for s in slices])
    order = np.argsort(dist, kind="stable")
    slices = [slices[i] for i in order]
    dist = dist[order]
    steps = np.diff(dist)

    dup = np.flatnonzero(steps < duplicate_tol)
    if dup.size:
        n_unique = len(np.unique(np.round(dist / duplicate_tol)))
        raise GeometryError(f"duplicate slice positions: {dup.size + 1 if n_unique == 1 else dup.size} "
                            f"slices share a position with another ({n_unique} distinct positions "
                            f"for {len(slices)} slices)")

    disp = slices[-1].position - slices[0].position
    along = float(np.dot(disp, normal))
    tilt = float(np.degrees(np.arccos(np.clip(abs(along) / np.linalg.norm(disp), -1, 1))))
    also = f" (also a gantry tilt of {tilt:.1f} degrees)" if tilt > 0.01 else ""

    step = float(np.median(steps))
    ratio = steps / step
    gaps = np.flatnonzero((ratio > 1.5) & (np.abs(ratio - np.round(ratio)) < spacing_rel_tol))
    if gaps.size:
        missing = int(np.sum(np.round(ratio[gaps]) - 1))
        where = ", ".join(f"{dist[g]:.2f}..{dist[g + 1]:.2f} mm" for g in gaps[:5])
        raise GeometryError(f"missing slice(s): {missing} slice(s) absent at regular step "
                            f"{step:.3f} mm (gaps at {where}){also}")
    uneven = np.abs(ratio - 1) > spacing_rel_tol
    if uneven.any():
        raise GeometryError(f"uneven slice spacing: steps range {steps.min():.3f}..{steps.max():.3f} mm "
                            f"(median {step:.3f}); refusing to interpolate across gaps{also}")

    offsets = np.array([[np.dot(s.position - slices[0].position - np.dot(s.position - slices[0].position,
                                                                         normal) * normal, d)
                         for d in (ref.row_dir, ref.col_dir)] for s in slices])
    return StackGeometry(
        slices=slices, row_dir=ref.row_dir, col_dir=ref.col_dir, normal=normal,
        spacing_xy=(ref.pixel_spacing[1], ref.pixel_spacing[0]), steps=steps, slice_step=step,
        tilt_deg=tilt, in_plane_offsets=offsets,
    )
