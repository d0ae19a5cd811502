"""Small DICOM series made to order for ingest tests: a sphere phantom, with or without faults."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

PHI = {"PatientName": "Fabricated^Alice", "PatientID": "MRN9990001", "PatientBirthDate": "19470203",
       "InstitutionName": "Fabrication General Hospital"}


def sphere_slices(n=24, size=48, spacing=(0.8, 0.8), step=2.0, radius=14.0, tilt_deg=0.0,
                  center=(0.0, 0.0, 0.0)):
    """Positions and pixel arrays (HU) of an axial stack through a 1000-HU sphere in air.

    With a tilt, the slice planes are rotated about x and stepped along z (as a tilted gantry
    does), and each slice is the true section of the sphere by its plane.
    """
    t = np.radians(tilt_deg)
    row = np.array([1.0, 0.0, 0.0])
    col = np.array([0.0, np.cos(t), -np.sin(t)])
    jj, ii = np.mgrid[0:size, 0:size]
    out = []
    for k in range(n):
        z = (k - (n - 1) / 2) * step
        origin = np.array([-(size - 1) / 2 * spacing[1], -(size - 1) / 2 * spacing[0], z])
        pts = origin + ii[..., None] * spacing[1] * row + jj[..., None] * spacing[0] * col
        inside = np.linalg.norm(pts - np.array(center), axis=-1) <= radius
        out.append((origin, np.where(inside, 1000, -1000).astype(np.int16)))
    return out, row, col


def study_uid_of(folder: Path) -> str:
    """The StudyInstanceUID write_series gives a folder's series unless told otherwise."""
    return generate_uid(entropy_srcs=[str(folder), "study"])


def write_series(folder: Path, slices, row, col, spacing=(0.8, 0.8), modality="CT",
                 series_uid=None, drop=(), duplicate=None, orientation_override=None,
                 omit_field=None, thickness=2.0, study_uid=None, patient_id=None, edit=None):
    """Write one file per slice; faults on request (drop indices, duplicate a position, ...)."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid(entropy_srcs=[str(folder)])
    study_uid = study_uid or study_uid_of(folder)
    for k, (pos, arr) in enumerate(slices):
        if k in drop:
            continue
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[str(folder), str(k)])
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"{k:03d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID = series_uid
        ds.StudyInstanceUID = study_uid
        ds.Modality = modality
        for key, value in PHI.items():
            setattr(ds, key, value)
        ds.InstanceNumber = k + 1
        if duplicate is not None and k == duplicate[1]:
            pos = slices[duplicate[0]][0]
        iop = list(row) + list(col)
        if orientation_override is not None and k == orientation_override[0]:
            iop = orientation_override[1]
        ds.ImagePositionPatient = [float(v) for v in pos]
        ds.ImageOrientationPatient = [float(v) for v in iop]
        ds.PixelSpacing = [spacing[0], spacing[1]]
        ds.SliceThickness = thickness
        ds.Rows, ds.Columns = arr.shape
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelRepresentation = 1
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.RescaleSlope, ds.RescaleIntercept = 1, 0
        ds.PixelData = arr.astype(np.int16).tobytes()
        if patient_id is not None:
            ds.PatientID = patient_id
        if omit_field and k == 0:
            delattr(ds, omit_field)
        if edit is not None:  # edit(k, ds): a fault in some slices
            edit(k, ds)
        ds.save_as(folder / f"{k:03d}.dcm", enforce_file_format=True)
    return folder
