"""Manifest checks of issue 16: one patient's files under two ids (leakage between splits),
no raw cohort path in messages, the demo-salt warning for a real cohort."""

import pytest

from tests.test_manifest import cohort, rewrite  # noqa: F401  (fixture)
from vfrepro.cli import main
from vfrepro.cohort.manifest import load_manifest
from vfrepro.errors import InputError


@pytest.mark.parametrize("col,value", [("dicom_dir", "dicom/P1"), ("mask_path", "P1_mask.nii.gz"),
                                       ("lesion_path", "P1_lesion.nii.gz")])
def test_same_files_under_two_patient_ids_refused(cohort, col, value):  # noqa: F811
    rewrite(cohort, **{col: (slice(2, 3), value)})
    with pytest.raises(InputError, match=f"same {col} is given for 2 patients") as exc:
        load_manifest(cohort)
    assert f"field {col}" in str(exc.value) and "P1" not in str(exc.value).replace("P1_", "")


def test_missing_file_named_relative_to_the_manifest_never_absolute(cohort):  # noqa: F811
    rewrite(cohort, mask_path=(slice(0, 1), "gone/P1_mask.nii.gz"))
    with pytest.raises(InputError) as exc:
        load_manifest(cohort)
    assert "file gone/P1_mask.nii.gz" in str(exc.value) and str(cohort.parent) not in str(exc.value)
    rewrite(cohort, mask_path=(slice(0, 1), "/data/MRN77_Doe^Jane/mask.nii.gz"))
    with pytest.raises(InputError) as exc:
        load_manifest(cohort)
    assert "Doe" not in str(exc.value) and "field mask_path" in str(exc.value)


def test_real_cohort_with_demo_salt_warns(cohort, tmp_path, capsys, monkeypatch):  # noqa: F811
    monkeypatch.delenv("VFREPRO_SALT", raising=False)
    out = tmp_path / "validated.csv"
    assert main(["validate-manifest", "--manifest", str(cohort), "--out", str(out), "--real-cohort",
                 "--salt", "vfrepro-demo-salt"]) == 0
    assert capsys.readouterr().err.count("PUBLIC demo salt") == 1
    assert main(["validate-manifest", "--manifest", str(cohort), "--out", str(out), "--real-cohort",
                 "--salt", "a-secret"]) == 0
    assert "demo salt" not in capsys.readouterr().err
