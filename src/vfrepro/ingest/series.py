"""Find DICOM series in a folder and read the headers that geometry depends on.

Only geometry and technical attributes are kept; identifying attributes (see
vfrepro.deid.PHI_KEYWORDS) are never read into these records, so they cannot leak.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from vfrepro.errors import InputError

# Transfer syntaxes that are not plain little-endian pixel data; reported in QC.
UNCOMPRESSED = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"}
GEOMETRY_FIELDS = ("ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing", "Rows",
                   "Columns")


@dataclass
class SliceHeader:
    """Geometry of one DICOM slice file."""

    path: Path
    position: np.ndarray
    row_dir: np.ndarray
    col_dir: np.ndarray
    pixel_spacing: tuple[float, float]  # (between rows, between columns) as DICOM orders it
    rows: int
    columns: int
    instance_number: int | None
    slice_thickness: float | None
    transfer_syntax: str
    modality: str | None
    gantry_tilt: float | None


@dataclass
class Series:
    """The slices of one SeriesInstanceUID, in file order."""

    uid: str
    slices: list[SliceHeader] = field(default_factory=list)

    @property
    def transfer_syntaxes(self) -> set[str]:
        return {s.transfer_syntax for s in self.slices}


def _header(path: Path, ds: pydicom.Dataset, case: str) -> SliceHeader:
    for name in GEOMETRY_FIELDS:
        if name not in ds or ds.get(name) in (None, ""):
            raise InputError(f"DICOM slice lacks {name}, so its geometry is unknown", case=case,
                             path=path.name, field=name)
    iop = np.asarray(ds.ImageOrientationPatient, dtype=float)
    if iop.shape != (6,):
        raise InputError("ImageOrientationPatient must have 6 values", case=case, path=path.name,
                         field="ImageOrientationPatient")
    tilt = ds.get("GantryDetectorTilt")
    thickness = ds.get("SliceThickness")
    number = ds.get("InstanceNumber")
    return SliceHeader(
        path=path,
        position=np.asarray(ds.ImagePositionPatient, dtype=float),
        row_dir=iop[:3] / np.linalg.norm(iop[:3]),
        col_dir=iop[3:] / np.linalg.norm(iop[3:]),
        pixel_spacing=(float(ds.PixelSpacing[0]), float(ds.PixelSpacing[1])),
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        instance_number=int(number) if number not in (None, "") else None,
        slice_thickness=float(thickness) if thickness not in (None, "") else None,
        transfer_syntax=str(ds.file_meta.TransferSyntaxUID) if "TransferSyntaxUID" in ds.file_meta
        else "1.2.840.10008.1.2",
        modality=str(ds.get("Modality")) if ds.get("Modality") else None,
        gantry_tilt=float(tilt) if tilt not in (None, "") else None,
    )


def find_series(folder: str | Path, case: str) -> dict[str, Series]:
    """Read the headers of every DICOM file under `folder`, grouped by SeriesInstanceUID.

    Non-DICOM files are skipped; image files without geometry raise InputError.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("DICOM folder does not exist", case=case, path=str(folder), field="dicom_dir")
    series: dict[str, Series] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError):
            continue
        if "PixelData" not in ds and "Rows" not in ds:
            continue  # structured reports, presentation states: no image
        uid = str(ds.get("SeriesInstanceUID", "")) or "unknown-series"
        series.setdefault(uid, Series(uid)).slices.append(_header(path, ds, case))
    if not series:
        raise InputError("no DICOM image files found", case=case, path=str(folder), field="dicom_dir")
    return series


def choose_series(series: dict[str, Series], case: str) -> tuple[Series, str]:
    """Pick the image series to convert: the one with the most slices (localisers are short).

    Returns the series and a note for QC when there was a choice to make.
    """
    ordered = sorted(series.values(), key=lambda s: (-len(s.slices), s.uid))
    note = ""
    if len(ordered) > 1:
        note = (f"{len(ordered)} series found; kept the largest ({len(ordered[0].slices)} slices), "
                f"ignored {[len(s.slices) for s in ordered[1:]]}")
    return ordered[0], note
