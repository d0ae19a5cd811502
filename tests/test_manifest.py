"""The manifest door: schema, study columns, files, per-patient consistency, pseudonyms."""

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from vfrepro.cli import main
from vfrepro.cohort.manifest import STUDY_COLUMNS, load_manifest
from vfrepro.deid import case_id
from vfrepro.errors import InputError


def write_mask(path, labels=(19, 20), array=None, **geometry):
    """A small label map (T12 = 19, L1 = 20 by default): masks are read at validation."""
    if array is None:
        array = np.zeros((8, 16, 16), np.uint8)
        for k, lab in enumerate(labels):
            array[2 + 3 * k:4 + 3 * k, 4:12, 4:12] = lab
    img = sitk.GetImageFromArray(array)
    for key, value in geometry.items():
        getattr(img, f"Set{key}")(value)
    sitk.WriteImage(img, str(path))
    return path


@pytest.fixture
def cohort(tmp_path):
    """A two-patient manifest whose files exist; columns for every study."""
    for pid in ("P1", "P2"):
        (tmp_path / "dicom" / pid).mkdir(parents=True)
        for f in ("lesion.nii.gz", "lat.png"):
            (tmp_path / f"{pid}_{f}").write_bytes(b"x")
        write_mask(tmp_path / f"{pid}_mask.nii.gz")
    rows = []
    for pid, split in (("P1", "train"), ("P2", "external")):
        for level, label in (("T12", 19), ("L1", 20)):
            rows.append(dict(patient_id=pid, site="A" if split == "train" else "B", split=split,
                             acquired_on="2024-01-02", dicom_dir=f"dicom/{pid}",
                             mask_path=f"{pid}_mask.nii.gz", mask_label=label, mask_reader2_path=None,
                             lesion_path=f"{pid}_lesion.nii.gz", level=level,
                             xray_lateral_path=f"{pid}_lat.png", lat_x0=1, lat_y0=2, lat_x1=10, lat_y1=12,
                             fracture=1, ao_type="A1", vcf_type="acute", astlof_morphology=1,
                             astlof_mri=1, astlof_bmd=1, astlof_pain=1, astlof_total=4, astlof_class=1,
                             ovcf=1, of=0, sn=0, kd=0, ps=0, age=71, sex="F", t_score=-2.9,
                             pain="positional"))
    path = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def rewrite(path, **changes):
    df = pd.read_csv(path)
    for key, (row, value) in changes.items():
        df.loc[row, key] = value
    df.to_csv(path, index=False)


def test_valid_manifest_is_pseudonymised_with_absolute_paths(cohort):
    table = load_manifest(cohort, studies=list(STUDY_COLUMNS))
    assert "patient_id" not in table.columns
    assert set(table["case_id"]) == {case_id("P1"), case_id("P2")}
    assert all(p.startswith("/") for p in table["dicom_dir"])
    # Paths are the cohort's own (and stay out of results/); no other column carries the key.
    assert "P1" not in table.drop(columns=[c for c in table if "path" in c or "dir" in c]).to_csv()


def test_salt_changes_the_pseudonym(cohort):
    a = load_manifest(cohort, salt="one")["case_id"].iloc[0]
    b = load_manifest(cohort, salt="two")["case_id"].iloc[0]
    assert a != b


def test_study_column_missing_names_study_and_column(cohort):
    df = pd.read_csv(cohort).drop(columns=["astlof_class"])
    df.to_csv(cohort, index=False)
    with pytest.raises(InputError, match="study liu2025_dlr needs column.*astlof_class"):
        load_manifest(cohort, studies=["liu2025_dlr"])
    load_manifest(cohort, studies=["rosenberg_xray"])  # a study that does not need it is fine


def test_study_column_blank(cohort):
    rewrite(cohort, vcf_type=(2, None))
    with pytest.raises(InputError, match="study xu2023_vcf needs column 'vcf_type', blank in manifest rows \\[4\\]"):
        load_manifest(cohort, studies=["xu2023_vcf"])


def test_schema_error_names_row_case_and_field(cohort):
    rewrite(cohort, split=(1, "training"))
    with pytest.raises(InputError) as err:
        load_manifest(cohort)
    text = str(err.value)
    assert "row 3" in text and case_id("P1") in text and "field 'split'" in text
    assert "P1," not in text  # the patient key itself is not echoed


def test_missing_file_named(cohort, tmp_path):
    (tmp_path / "P2_mask.nii.gz").unlink()
    with pytest.raises(InputError, match="mask_path does not exist") as err:
        load_manifest(cohort)
    assert "P2_mask.nii.gz" in str(err.value) and "field mask_path" in str(err.value)


def test_patient_rows_must_agree(cohort):
    rewrite(cohort, site=(1, "Z"))
    with pytest.raises(InputError, match="column 'site' differs between rows of the same patient"):
        load_manifest(cohort)


def test_duplicate_level(cohort):
    rewrite(cohort, level=(1, "T12"))
    with pytest.raises(InputError, match="level T12 listed twice"):
        load_manifest(cohort)


def test_cli(cohort, tmp_path, capsys):
    out = tmp_path / "v.csv"
    assert main(["validate-manifest", "--manifest", str(cohort), "--out", str(out),
                 "--studies", "liu2025_dlr,xu2023_vcf"]) == 0
    assert pd.read_csv(out)["case_id"].nunique() == 2
    rewrite(cohort, mask_label=(0, 0))
    assert main(["validate-manifest", "--manifest", str(cohort), "--out", str(out)]) == 2
    assert "field 'mask_label'" in capsys.readouterr().err
