"""Corrupted or mixed-up DICOM that must be refused with the file named (relative to the case
folder), never converted: issue 16. Each case's failure stays its own (the others' rows are ok)."""

import pandas as pd
import pytest

from tests.dicomfab import PHI, sphere_slices, study_uid_of, write_series
from vfrepro.ingest.run import ingest_case, ingest_cases

CASE = "c0000000001"


def series(folder, **kw):
    slices, row, col = sphere_slices(n=8)
    return write_series(folder, slices, row, col, **kw)


def _drop(*names, at=(3,)):
    def edit(k, ds):
        if k in at:
            for n in names:
                delattr(ds, n)
    return edit


def _nan_position(k, ds):
    if k == 4:
        ds.ImagePositionPatient = ["nan", "0", "0"]


def _short_pixels(k, ds):
    if k == 2:
        ds.PixelData = ds.PixelData[:-200]


def _cut(folder):
    path = folder / "005.dcm"
    path.write_bytes(path.read_bytes()[:300])


def _truncate_tail(folder):
    path = folder / "006.dcm"
    path.write_bytes(path.read_bytes()[:-500])


def _second_patient(folder):
    series(folder / "other", patient_id="MRN0000002", study_uid=study_uid_of(folder))


def _second_study(folder):
    series(folder / "other")  # same PatientID, its own StudyInstanceUID


CORRUPT = [
    # kind, write_series options, post-write fault, field expected, file expected
    ("rescale absent in one slice", dict(edit=_drop("RescaleSlope", "RescaleIntercept")), None,
     "RescaleIntercept", "003.dcm"),
    ("rescale absent in all slices", dict(edit=_drop("RescaleIntercept", at=range(8))), None,
     "RescaleIntercept", "000.dcm"),
    ("ImagePositionPatient nan in one slice", dict(edit=_nan_position), None,
     "ImagePositionPatient", "004.dcm"),
    ("PixelData shorter than Rows x Columns", dict(edit=_short_pixels), None, "PixelData", "002.dcm"),
    ("file cut to 300 bytes", {}, _cut, "PixelData", "005.dcm"),
    ("file ends inside PixelData", {}, _truncate_tail, "PixelData", "006.dcm"),
    ("second patient's series in the folder", {}, _second_patient, "PatientID", "other/"),
    ("second study's series in the folder", {}, _second_study, "StudyInstanceUID", "other/"),
]


@pytest.mark.parametrize("kind,options,fault,field,name", CORRUPT, ids=[c[0] for c in CORRUPT])
def test_corrupt_case_refused_naming_file_and_field(tmp_path, kind, options, fault, field, name):
    folder = series(tmp_path / "MRN123_Surname^Name" / "CT", **options)
    if fault:
        fault(folder)
    row, image = ingest_case(CASE, str(folder), None)
    assert row["status"] == "failed" and image is None, kind
    reason = row["reason"]
    assert f"field {field}" in reason and f"case {CASE}" in reason, reason
    assert name in reason, reason
    assert str(tmp_path) not in reason and "Surname" not in reason, reason
    for value in PHI.values():
        assert value not in reason and "MRN0000002" not in reason


def test_one_corrupt_case_keeps_the_others_and_qc_has_no_raw_path(tmp_path):
    good = series(tmp_path / "MRN1_Good^Patient" / "CT")
    bad = series(tmp_path / "MRN2_Bad^Patient" / "CT", edit=_nan_position)
    gone = tmp_path / "MRN3_Gone^Patient" / "CT"
    cases = pd.DataFrame({"case_id": ["c0000000001", "c0000000002", "c0000000003"],
                          "dicom_dir": [str(good), str(bad), str(gone)]})
    qc = ingest_cases(cases, tmp_path / "out")
    assert qc["status"].tolist() == ["ok", "failed", "failed"]
    assert (tmp_path / "out" / "images" / "c0000000001.nii.gz").is_file()
    text = (tmp_path / "out" / "qc.csv").read_text()
    for needle in ("MRN", "Bad^", "Gone^", str(tmp_path / "MRN")):
        assert needle not in text, needle
    assert "dicom_dir" in qc.loc[2, "reason"]


def test_scrub_path_hides_the_case_folder():
    from vfrepro.ingest.run import scrub_path
    text = scrub_path("RuntimeError: cannot read /data/MRN9_Doe^John/CT/001.dcm", "/data/MRN9_Doe^John/CT/")
    assert text == "RuntimeError: cannot read <dicom_dir>/001.dcm"


def test_localiser_of_the_same_study_still_accepted(tmp_path):
    folder = series(tmp_path / "ct")
    slices, r, c = sphere_slices(n=3)
    write_series(folder / "scout", slices, r, c, series_uid="1.2.3.4", study_uid=study_uid_of(folder))
    row, _ = ingest_case(CASE, str(folder), None)
    assert row["status"] == "ok", row["reason"]
