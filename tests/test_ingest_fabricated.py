"""Ingest on series made with known faults, and the cohort-level contract (one bad case, PHI)."""

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from tests.dicomfab import PHI, sphere_slices, study_uid_of, write_series
from vfrepro.cli import main
from vfrepro.ingest.run import ingest_case, ingest_cases


def sphere_dir(tmp_path, name="ok", tilt=0.0, size=48, **faults):
    slices, row, col = sphere_slices(tilt_deg=tilt, size=size)
    return write_series(tmp_path / name, slices, row, col, **faults)


def test_clean_series_geometry(tmp_path):
    row, image = ingest_case("c0000000001", str(sphere_dir(tmp_path)), None)
    assert row["status"] == "ok", row["reason"]
    assert image.GetSize() == (48, 48, 24)
    np.testing.assert_allclose(image.GetSpacing(), (0.8, 0.8, 2.0))
    # Sphere centred at the world origin: its centroid must come out there.
    arr = sitk.GetArrayFromImage(image)
    idx = np.argwhere(arr > 0).mean(axis=0)[::-1]
    np.testing.assert_allclose(image.TransformContinuousIndexToPhysicalPoint(idx), (0, 0, 0), atol=0.3)


def test_tilted_sphere_is_round_after_correction(tmp_path):
    row, image = ingest_case("c0000000001", str(sphere_dir(tmp_path, tilt=20.0, size=80)), None)
    assert row["status"] == "ok" and row["tilt_corrected"]
    assert row["tilt_deg"] == pytest.approx(20.0, abs=0.05)
    arr = sitk.GetArrayFromImage(image) > 0
    # Every slice's section centroid lies on one line through the sphere centre (no shear),
    # and that centre is the world origin.
    cents = np.array([np.argwhere(s).mean(axis=0) for s in arr if s.sum() > 150])
    assert np.ptp(cents[:, 0]) < 1.0 and np.ptp(cents[:, 1]) < 1.0
    idx = np.argwhere(arr).mean(axis=0)[::-1]
    np.testing.assert_allclose(image.TransformContinuousIndexToPhysicalPoint(idx), (0, 0, 0), atol=0.5)
    # Without correction the centroids would drift by ~ step * tan(tilt) per slice.
    uncorrected = np.stack([a for _, a in sphere_slices(tilt_deg=20.0, size=80)[0]]) > 0
    drift = np.array([np.argwhere(s).mean(axis=0) for s in uncorrected if s.sum() > 20])
    assert np.ptp(drift[:, 0]) > 5


@pytest.mark.parametrize("faults,reason", [
    ({"drop": {10}}, "missing slice(s): 1 slice(s) absent"),
    ({"duplicate": (5, 6)}, "duplicate slice positions"),
    ({"orientation_override": (3, [1, 0, 0, 0, 0.9, -0.43589])}, "mixed slice orientations"),
    ({"modality": "MR"}, "modality MR, expected CT"),
])
def test_faulty_series_refused(tmp_path, faults, reason):
    row, image = ingest_case("c0000000001", str(sphere_dir(tmp_path, **faults)), None)
    assert image is None and row["status"] == "failed"
    assert reason in row["reason"], row["reason"]


def test_uneven_spacing_refused(tmp_path):
    slices, row, col = sphere_slices()
    slices = [(pos + np.array([0, 0, 0.6 * (k % 2)]), arr) for k, (pos, arr) in enumerate(slices)]
    r, _ = ingest_case("c0000000001", str(write_series(tmp_path / "u", slices, row, col)), None)
    assert "uneven slice spacing" in r["reason"]


def test_missing_geometry_field_names_file_and_field(tmp_path):
    row, _ = ingest_case("c0000000001", str(sphere_dir(tmp_path, omit_field="PixelSpacing")), None)
    assert "field PixelSpacing" in row["reason"] and "000.dcm" in row["reason"]
    assert "case c0000000001" in row["reason"]


def test_largest_series_kept_with_note(tmp_path):
    folder = sphere_dir(tmp_path)
    slices, r, c = sphere_slices(n=3)
    # a localiser of the same study (another study in the folder is refused: test_ingest_corrupt)
    write_series(folder / "scout", slices, r, c, series_uid="1.2.3.4", study_uid=study_uid_of(folder))
    row, image = ingest_case("c0000000001", str(folder), None)
    assert row["status"] == "ok" and row["n_series"] == 2 and image.GetSize()[2] == 24
    assert "kept the largest (24 slices)" in row["notes"]


def test_one_bad_case_keeps_the_others_and_no_phi_leaves(tmp_path):
    cases = pd.DataFrame({"case_id": ["c0000000001", "c0000000002", "c0000000003"],
                          "dicom_dir": [str(sphere_dir(tmp_path, "a")),
                                        str(sphere_dir(tmp_path, "b", drop={4})),
                                        str(tmp_path / "does-not-exist")]})
    qc = ingest_cases(cases, tmp_path / "out", threads=2)
    assert qc["status"].tolist() == ["ok", "failed", "failed"]
    assert "missing slice" in qc.at[1, "reason"] and "does not exist" in qc.at[2, "reason"]
    assert (tmp_path / "out/images/c0000000001.nii.gz").is_file()
    assert not (tmp_path / "out/images/c0000000002.nii.gz").exists()
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    for path in written:
        blob = path.read_bytes()
        for value in PHI.values():
            assert value.encode() not in blob, f"{value} leaked into {path.name}"


def test_cli_exit_status_and_qc_columns(tmp_path):
    manifest = tmp_path / "m.csv"
    pd.DataFrame({"case_id": ["c0000000001", "c0000000002"], "site": ["A", "A"],
                  "dicom_dir": [str(sphere_dir(tmp_path, "a")), str(sphere_dir(tmp_path, "b", drop={4}))]}
                 ).to_csv(manifest, index=False)
    assert main(["ingest", "--manifest", str(manifest), "--out", str(tmp_path / "o")]) == 1
    assert main(["ingest", "--manifest", str(manifest), "--out", str(tmp_path / "o"),
                 "--exclude-failed"]) == 0
    qc = pd.read_csv(tmp_path / "o/qc.csv")
    for col in ["case_id", "status", "reason", "nifti_path", "spacing_x", "spacing_z", "size_z", "tilt_deg"]:
        assert col in qc.columns
    assert main(["ingest-gate", "--qc", str(tmp_path / "o/qc.csv"), "--out", str(tmp_path / "ok.txt")]) == 1
    assert main(["ingest-gate", "--qc", str(tmp_path / "o/qc.csv"), "--out", str(tmp_path / "ok.txt"),
                 "--exclude-failed"]) == 0
    assert (tmp_path / "ok.txt").read_text().split() == ["c0000000001"]
