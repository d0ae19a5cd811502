"""One-file-per-slice CT series with pydicom: valid geometry, deterministic UIDs, fake PHI.

Nothing here reads the clock: dates come from the acquisition date and UIDs from
(seed, patient, role, slice), so the same seed gives the same bytes.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
import struct
import uuid
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.tag import Tag
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID

from .phantom import Grid
from .sites import SiteProfile

RESCALE_INTERCEPT = -1024.0   # stored value 0 = -1024 HU (air floor)

_FIRST_F = ("Jane", "Maria", "Anna", "Linda", "Susan", "Karen", "Helen", "Ruth", "Grace", "Irene",
            "Margaret", "Dorothy", "Agnes", "Edith", "Rosa", "Ingrid")
_FIRST_M = ("John", "Peter", "Robert", "Michael", "David", "Thomas", "George", "Walter", "Henry",
            "Frank", "Paul", "Arthur", "Hans", "Luis")
_LAST = ("Doe", "Smith", "Miller", "Brown", "Garcia", "Johnson", "Walker", "Keller", "Novak",
         "Rossi", "Schmidt", "Larsen", "Moreau", "Okafor", "Tanaka", "Weber", "Fischer", "Lopez")


@dataclass(frozen=True)
class Identity:
    """Fake but realistic identifiers written into the headers (never into the manifest)."""

    name: str           # DICOM PN, e.g. "Doe^Jane"
    mrn: str            # PatientID, e.g. "MRN4820193"
    birth_date: str     # YYYYMMDD
    accession: str      # AccessionNumber
    referring: str      # ReferringPhysicianName


def fake_identity(rng: np.random.Generator, sex: str, age: int, acquired_on: _dt.date) -> Identity:
    """Draw a fake identity consistent with sex and age at acquisition."""
    first = (_FIRST_F if sex == "F" else _FIRST_M)[int(rng.integers(0, 14))]
    last = _LAST[int(rng.integers(0, len(_LAST)))]
    birth = acquired_on - _dt.timedelta(days=int(age * 365.25 + rng.integers(0, 365)))
    ref = f"{_LAST[int(rng.integers(0, len(_LAST)))]}^{_FIRST_M[int(rng.integers(0, 14))]}^^Dr."
    return Identity(name=f"{last}^{first}", mrn=f"MRN{int(rng.integers(0, 10**7)):07d}",
                    birth_date=birth.strftime("%Y%m%d"),
                    accession=f"ACC{int(rng.integers(0, 10**9)):09d}", referring=ref)


# Namespace of the name-based UUIDs behind our UIDs (any fixed UUID works; this one is ours).
_UID_NAMESPACE = uuid.UUID("6f1d3c1e-8d7a-5b8e-9a61-7c0f5e2b4a90")


def uid(seed: int, patient_id: str, *parts: object) -> str:
    """Deterministic UID 2.25.<int of a UUIDv5 of seed, patient and role parts>.

    pydicom's generate_uid(prefix=None, ...) ignores entropy_srcs and returns a random
    UUID4, so the 2.25 form is built here from a name-based UUID (DICOM PS3.5 B.2).
    """
    name = "|".join(["vfrepro-synth", str(seed), patient_id, *map(str, parts)])
    return UID(f"2.25.{uuid.uuid5(_UID_NAMESPACE, name).int}")


def write_series(out_dir: Path, hu: np.ndarray, grid: Grid, *, seed: int, patient_id: str,
                 identity: Identity, site: SiteProfile, acquired_on: _dt.date, age: int, sex: str,
                 study_time: str) -> dict:
    """Write hu (z, y, x; slice 0 inferior) as IM0001.dcm ... (instance 1 = most superior slice).

    Takes the output folder, float HU volume, Grid, ids and header facts; gives a dict of
    the series' UIDs and the number of files. Pixels are uint16 with intercept -1024.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    stored = np.clip(np.rint(hu - RESCALE_INTERCEPT), 0, 65535).astype(np.uint16)
    nz, ny, nx = stored.shape
    sx, sy, sz = grid.spacing
    ox, oy, oz = grid.origin
    study_uid = uid(seed, patient_id, "study")
    series_uid = uid(seed, patient_id, "series")
    frame_uid = uid(seed, patient_id, "frame")
    date = acquired_on.strftime("%Y%m%d")

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "VFREPRO_SYNTH"

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = date
    ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = study_time
    ds.AccessionNumber = identity.accession
    ds.Modality = "CT"
    ds.Manufacturer = site.manufacturer
    ds.ManufacturerModelName = site.model
    ds.InstitutionName = site.institution
    ds.ReferringPhysicianName = identity.referring
    ds.StationName = f"CT{site.name.upper()}"
    ds.StudyDescription = "CT THORACOLUMBAR SPINE"
    ds.SeriesDescription = f"SPINE BONE {sz:.2f}mm"
    ds.PatientName = identity.name
    ds.PatientID = identity.mrn
    ds.PatientBirthDate = identity.birth_date
    ds.PatientSex = sex
    ds.PatientAge = f"{int(age):03d}Y"
    ds.BodyPartExamined = "SPINE"
    ds.SliceThickness = f"{sz:.4g}"
    ds.SpacingBetweenSlices = f"{sz:.4g}"
    ds.KVP = str(site.kvp)
    ds.ConvolutionKernel = "BONE"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = identity.accession[-6:]
    ds.SeriesNumber = 3
    ds.AcquisitionNumber = 1
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = ny, nx
    ds.PixelSpacing = [f"{sy:.6g}", f"{sx:.6g}"]    # row spacing (y), column spacing (x)
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.WindowCenter = "500"
    ds.WindowWidth = "1500"
    ds.RescaleIntercept = f"{RESCALE_INTERCEPT:.0f}"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    meta.FileMetaInformationVersion = b"\x00\x01"
    enc = None
    for k in range(nz):
        inst = nz - k                                   # instance 1 = most superior slice
        z = oz + k * sz
        ds.SOPInstanceUID = uid(seed, patient_id, "slice", k)
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = inst
        ds.ImagePositionPatient = [f"{ox:.4f}", f"{oy:.4f}", f"{z:.4f}"]
        ds.SliceLocation = f"{z:.4f}"
        ds.add_new(0x7FE00010, "OW", stored[k].tobytes())   # OW: 16-bit pixels, VR stated explicitly
        if enc is None:                                 # the per-slice elements must exist first
            enc = _SeriesEncoder(ds, dynamic=_DYNAMIC)
        (out_dir / f"IM{inst:04d}.dcm").write_bytes(enc.encode(ds))
    return {"study_uid": study_uid, "series_uid": series_uid, "n_files": nz}


# Elements that change from slice to slice; everything else is encoded once per series.
_DYNAMIC = (Tag(0x0008, 0x0018), Tag(0x0020, 0x0013), Tag(0x0020, 0x0032), Tag(0x0020, 0x1041),
            Tag(0x7FE0, 0x0010))
_META_DYNAMIC = (Tag(0x0002, 0x0003),)


def _encode_elements(ds: Dataset, tags) -> bytes:
    """Explicit VR little endian bytes of ds's elements with the given tags, in the given order."""
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    for t in tags:
        write_data_element(fp, ds[t])
    return fp.getvalue()


class _SeriesEncoder:
    """Encodes a Part-10 file per slice, re-encoding only the per-slice elements.

    Gives the same bytes as pydicom.dcmwrite(..., enforce_file_format=True) for a dataset
    whose file meta holds exactly version, SOP class/instance, transfer syntax and
    implementation class/version (checked by tests), at a fraction of the cost.
    """

    def __init__(self, ds: Dataset, dynamic) -> None:
        self.dynamic = sorted(Tag(t) for t in dynamic)
        self.meta_dynamic = sorted(_META_DYNAMIC)
        self.chunks = self._static_chunks(ds, self.dynamic)
        meta_tags = [t for t in ds.file_meta.keys() if t != Tag(0x0002, 0x0000)]
        self.meta_chunks = self._static_chunks(ds.file_meta, self.meta_dynamic, meta_tags)

    @staticmethod
    def _static_chunks(ds: Dataset, dynamic, tags=None) -> list[bytes]:
        """Encoded runs of static elements between the dynamic tags (len(dynamic) + 1 runs)."""
        tags = sorted(tags if tags is not None else ds.keys())
        runs: list[list] = [[]]
        for t in tags:
            if t in dynamic:
                runs.append([])
            else:
                runs[-1].append(t)
        return [_encode_elements(ds, r) for r in runs]

    @staticmethod
    def _interleave(ds: Dataset, chunks: list[bytes], dynamic) -> bytes:
        """Static runs with the current values of the dynamic elements between them."""
        parts = [chunks[0]]
        for t, c in zip(dynamic, chunks[1:]):
            parts.append(_encode_elements(ds, [t]))
            parts.append(c)
        return b"".join(parts)

    def encode(self, ds: Dataset) -> bytes:
        """Whole file: preamble, 'DICM', file meta with its group length, then the dataset."""
        meta = self._interleave(ds.file_meta, self.meta_chunks, self.meta_dynamic)
        group_len = struct.pack("<HH2sHI", 0x0002, 0x0000, b"UL", 4, len(meta))
        return b"\x00" * 128 + b"DICM" + group_len + meta + self._interleave(ds, self.chunks, self.dynamic)
