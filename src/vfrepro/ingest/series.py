"""Find DICOM series in a folder and read the headers that geometry depends on.

Only geometry and technical attributes are kept; identifying attributes (see
vfrepro.deid.PHI_KEYWORDS) are never read into these records, so they cannot leak.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from vfrepro.errors import InputError

# Transfer syntaxes that are not plain little-endian pixel data; reported in QC.
UNCOMPRESSED = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"}
GEOMETRY_FIELDS = ("ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing", "Rows",
                   "Columns")
PIXEL_DATA = 0x7FE00010
# Header elements above this size are not read (PixelData), only their length and offset.
DEFER_BYTES = 4096
# Attributes that must agree across one case folder; compared as digests, never kept or shown.
IDENTITY_FIELDS = ("PatientID", "StudyInstanceUID")


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
    name: str = ""  # path relative to the case folder: the only spelling messages use
    rescale_missing: tuple[str, ...] = ()  # RescaleSlope / RescaleIntercept absent here


@dataclass
class Series:
    """The slices of one SeriesInstanceUID, in file order."""

    uid: str
    slices: list[SliceHeader] = field(default_factory=list)

    @property
    def transfer_syntaxes(self) -> set[str]:
        return {s.transfer_syntax for s in self.slices}


def _floats(ds: pydicom.Dataset, name: str, n: int, case: str, rel: str) -> np.ndarray:
    try:
        values = np.asarray(ds.get(name), dtype=float).ravel()
    except (TypeError, ValueError):
        values = np.array([np.nan])
    if values.shape != (n,):
        raise InputError(f"{name} must have {n} values, has {values.size}", case=case, path=rel,
                         field=name)
    if not np.all(np.isfinite(values)):
        raise InputError(f"{name} is not a finite number ({[float(v) for v in values]})", case=case, path=rel,
                         field=name)
    return values


def _check_pixel_data(path: Path, ds: pydicom.Dataset, case: str, rel: str) -> None:
    """PixelData present and, when uncompressed, as long as Rows x Columns x ... needs and
    wholly inside the file (a truncated copy is refused, not zero-filled by a decoder)."""
    raw = ds._dict.get(PIXEL_DATA)
    if raw is None:
        raise InputError("DICOM image slice has no PixelData", case=case, path=rel, field="PixelData")
    length = getattr(raw, "length", None)
    tell = getattr(raw, "value_tell", None)
    if length is None or tell is None or length == 0xFFFFFFFF:
        return  # encapsulated (compressed) data: the decoder checks its fragments
    size = os.path.getsize(path)
    if tell + length > size:
        raise InputError(f"file ends inside PixelData ({size - tell} of {length} bytes): truncated "
                         f"copy", case=case, path=rel, field="PixelData")
    syntax = str(ds.file_meta.get("TransferSyntaxUID", "1.2.840.10008.1.2"))
    if syntax in UNCOMPRESSED:
        frames = int(ds.get("NumberOfFrames") or 1)
        need = (int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel") or 1)
                * int(ds.get("BitsAllocated") or 16) // 8 * frames)
        if length < need:
            raise InputError(f"PixelData holds {length} bytes, Rows x Columns x BitsAllocated needs "
                             f"{need}: truncated slice", case=case, path=rel, field="PixelData")


def _header(path: Path, ds: pydicom.Dataset, case: str, rel: str | None = None) -> SliceHeader:
    rel = rel or path.name
    for name in GEOMETRY_FIELDS:
        if name not in ds or ds.get(name) in (None, ""):
            raise InputError(f"DICOM slice lacks {name}, so its geometry is unknown", case=case,
                             path=rel, field=name)
    iop = _floats(ds, "ImageOrientationPatient", 6, case, rel)
    position = _floats(ds, "ImagePositionPatient", 3, case, rel)
    spacing = _floats(ds, "PixelSpacing", 2, case, rel)
    if np.any(spacing <= 0):
        raise InputError(f"PixelSpacing must be positive ({list(spacing)})", case=case, path=rel,
                         field="PixelSpacing")
    if np.linalg.norm(iop[:3]) == 0 or np.linalg.norm(iop[3:]) == 0:
        raise InputError("ImageOrientationPatient has a zero direction", case=case, path=rel,
                         field="ImageOrientationPatient")
    _check_pixel_data(path, ds, case, rel)
    modality = str(ds.get("Modality")) if ds.get("Modality") else None
    rescale_missing = tuple(k for k in ("RescaleSlope", "RescaleIntercept")
                            if modality == "CT" and ds.get(k) in (None, ""))
    tilt = ds.get("GantryDetectorTilt")
    thickness = ds.get("SliceThickness")
    number = ds.get("InstanceNumber")
    return SliceHeader(
        path=path,
        position=position,
        row_dir=iop[:3] / np.linalg.norm(iop[:3]),
        col_dir=iop[3:] / np.linalg.norm(iop[3:]),
        pixel_spacing=(float(spacing[0]), float(spacing[1])),
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        instance_number=int(number) if number not in (None, "") else None,
        slice_thickness=float(thickness) if thickness not in (None, "") else None,
        transfer_syntax=str(ds.file_meta.TransferSyntaxUID) if "TransferSyntaxUID" in ds.file_meta
        else "1.2.840.10008.1.2",
        modality=modality,
        gantry_tilt=float(tilt) if tilt not in (None, "") else None,
        name=rel,
        rescale_missing=rescale_missing,
    )


def _has_dicm_magic(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def _is_image_class(ds: pydicom.Dataset) -> bool:
    uid = ds.file_meta.get("MediaStorageSOPClassUID") if "file_meta" in dir(ds) else None
    uid = uid or ds.get("SOPClassUID")
    try:
        return bool(uid) and "Image Storage" in UID(str(uid)).name
    except Exception:
        return False


def _digest(value) -> str:
    return hashlib.sha256(str(value if value is not None else "").encode()).hexdigest()


def find_series(folder: str | Path, case: str) -> dict[str, Series]:
    """Read the headers of every DICOM file under `folder`, grouped by SeriesInstanceUID.

    Non-DICOM files are skipped; image files without geometry raise InputError.
    Files named in errors are given relative to `folder` (cohort paths may carry patient names).
    A file that says it is DICOM but cannot be read, or an image object cut short, is refused;
    so are image files of more than one patient or study (compared as digests).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("DICOM folder (manifest column dicom_dir) does not exist", case=case,
                         field="dicom_dir")
    series: dict[str, Series] = {}
    seen: dict[str, dict[str, str]] = {f: {} for f in IDENTITY_FIELDS}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        try:
            ds = pydicom.dcmread(path, defer_size=DEFER_BYTES)
        except (InvalidDicomError, OSError) as exc:
            if _has_dicm_magic(path):
                raise InputError(f"DICOM file cannot be read ({type(exc).__name__}): truncated or "
                                 f"corrupt", case=case, path=rel, field="file") from None
            continue
        except Exception as exc:  # pydicom's parse errors on a damaged file
            raise InputError(f"DICOM file cannot be read ({type(exc).__name__}): truncated or "
                             f"corrupt", case=case, path=rel, field="file") from None
        if PIXEL_DATA not in ds._dict and "Rows" not in ds:
            if _is_image_class(ds):
                raise InputError("image object without Rows or PixelData: the file is cut short",
                                 case=case, path=rel, field="PixelData")
            continue  # structured reports, presentation states: no image
        for name in IDENTITY_FIELDS:
            first = seen[name].setdefault(_digest(ds.get(name)), rel)
            if len(seen[name]) > 1:
                what = "patient" if name == "PatientID" else "study"
                raise InputError(f"image files of more than one {what} in one case folder ({name} "
                                 f"differs between {first} and {rel}); give each {what} its own "
                                 f"case", case=case, path=rel, field=name)
        uid = str(ds.get("SeriesInstanceUID", "")) or "unknown-series"
        series.setdefault(uid, Series(uid)).slices.append(_header(path, ds, case, rel))
    if not series:
        raise InputError("no DICOM image files found in the case's dicom_dir", case=case,
                         field="dicom_dir")
    return series


def check_rescale(series: Series, case: str) -> None:
    """A CT series must carry RescaleSlope and RescaleIntercept on every slice: without them a
    decoder takes slope 1 / intercept 0 and the HU come out shifted (often by 1024)."""
    lacking = [s for s in series.slices if s.rescale_missing]
    if lacking:
        tags = sorted({t for s in lacking for t in s.rescale_missing})
        raise InputError(f"{'/'.join(tags)} absent in {len(lacking)} of {len(series.slices)} CT "
                         f"slice(s) (first: {lacking[0].name}): HU would be guessed", case=case,
                         path=lacking[0].name, field=tags[0])


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
