"""Issue 16, manifest, masks and workflow: the label maps and the cohort checked at manifest
validation (before any compute), masks on another voxel grid of the same region, CT-only
cohorts, site names, ComBat covariates, preprocess spacing."""

import json
import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from tests.conftest import run_snakemake
from tests.dicomfab import sphere_slices, write_series
from tests.test_manifest import cohort, rewrite, write_mask  # noqa: F401  (fixture)
from vfrepro.cli import main
from vfrepro.cohort.manifest import STUDY_COLUMNS, load_manifest, study_check_config
from vfrepro.deid import case_id
from vfrepro.errors import InputError
from vfrepro.preprocess.resample import fit_mask_to_image, label_counts

LIU_CFG = {"liu2025_dlr": {"vertebrae": "fractured", "combat": {"covariates": ["age", "sex"]}}}


def _refused(manifest, match, **kw):
    with pytest.raises(InputError, match=match) as exc:
        load_manifest(manifest, **kw)
    text = str(exc.value)
    assert str(manifest.parent) not in text  # never an absolute cohort path
    assert "P1," not in text and "P2," not in text  # never the patient id
    return exc.value


# ---- 1. label maps -----------------------------------------------------------------------

def test_duplicate_mask_label_for_two_levels(cohort):  # noqa: F811
    rewrite(cohort, mask_label=(1, 19))
    err = _refused(cohort, "mask_label 19 given for levels T12, L1 of one patient")
    assert err.field == "mask_label" and err.case == case_id("P1")


@pytest.mark.parametrize("array,match", [
    (np.where(np.arange(8 * 16 * 16).reshape(8, 16, 16) % 7 == 0, 19.5, 0).astype(np.float32),
     "float mask with non-integer labels"),
    (np.where(np.arange(8 * 16 * 16).reshape(8, 16, 16) % 3, 19, np.nan).astype(np.float32),
     "mask has 683 NaN voxel"),
    (np.zeros((8, 16, 16), np.uint8), "one label everywhere: all background"),
    (np.full((8, 16, 16), 19, np.uint8), "one label everywhere: label 19 everywhere"),
    (np.where(np.arange(8 * 16 * 16).reshape(8, 16, 16) % 2, -3, 19).astype(np.int16), "negative labels"),
])
def test_mask_that_is_no_label_map_refused(cohort, array, match):  # noqa: F811
    write_mask(cohort.parent / "P2_mask.nii.gz", array=array)
    err = _refused(cohort, match)
    assert err.path == "P2_mask.nii.gz" and err.field == "mask_path" and err.case == case_id("P2")


def test_float_mask_with_integer_labels_passes(cohort):  # noqa: F811
    arr = sitk.GetArrayFromImage(sitk.ReadImage(str(cohort.parent / "P2_mask.nii.gz")))
    write_mask(cohort.parent / "P2_mask.nii.gz", array=arr.astype(np.float32))
    load_manifest(cohort)


def test_mask_label_absent_from_its_mask(cohort):  # noqa: F811
    write_mask(cohort.parent / "P2_mask.nii.gz", labels=(19, 21))
    err = _refused(cohort, r"mask_label 20 \(L1\) absent from the mask \(its labels: \[19, 21\]\)")
    assert err.field == "mask_label" and err.path == "P2_mask.nii.gz"


def test_reader2_mask_checked_too(cohort):  # noqa: F811
    write_mask(cohort.parent / "P1_r2.nii.gz", labels=(19,))
    rewrite(cohort, mask_reader2_path=(slice(0, 1), "P1_r2.nii.gz"))
    err = _refused(cohort, r"mask_label 20 \(L1\) absent")
    assert err.path == "P1_r2.nii.gz"


# ---- 2. masks on another voxel grid of the same physical image ----------------------------

SIZE, N, PX, STEP = 24, 10, 0.8, 2.0


def _native():
    """The sphere series' ITK geometry (as ingest writes it) and a label map on it."""
    arr = np.zeros((N, SIZE, SIZE), np.uint8)
    arr[2:5, 4:12, 6:18] = 19   # asymmetric, so that a wrong flip shows
    arr[6:9, 10:20, 3:9] = 20
    origin = (-(SIZE - 1) / 2 * PX, -(SIZE - 1) / 2 * PX, -(N - 1) / 2 * STEP)
    return arr, dict(Spacing=(PX, PX, STEP), Origin=origin, Direction=(1, 0, 0, 0, 1, 0, 0, 0, 1))


def _variant(kind):
    arr, geo = _native()
    ox, oy, oz = geo["Origin"]
    if kind == "native":
        return arr, geo
    if kind == "flip_z":      # dcm2niix-style: slices stored from the top
        return arr[::-1].copy(), dict(geo, Origin=(ox, oy, -oz), Direction=(1, 0, 0, 0, 1, 0, 0, 0, -1))
    if kind == "flip_y":      # NIfTI's native (RAS-like) row order
        return arr[:, ::-1].copy(), dict(geo, Origin=(ox, -oy, oz), Direction=(1, 0, 0, 0, -1, 0, 0, 0, 1))
    if kind == "permuted":    # index axes x and y swapped (direction matrix permuted)
        return arr.transpose(0, 2, 1).copy(), dict(geo, Direction=(0, 1, 0, 1, 0, 0, 0, 0, 1))
    if kind == "shifted":     # another region: 5 mm along z
        return arr, dict(geo, Origin=(ox, oy, oz + 5.0))
    raise ValueError(kind)


@pytest.fixture
def dicom_cohort(cohort):  # noqa: F811
    """The two-patient manifest with a real CT series per patient (sphere phantom)."""
    for pid in ("P1", "P2"):
        slices, row, col = sphere_slices(n=N, size=SIZE, spacing=(PX, PX), step=STEP, radius=6.0)
        write_series(cohort.parent / "dicom" / pid, slices, row, col, spacing=(PX, PX))
        arr, geo = _native()
        write_mask(cohort.parent / f"{pid}_mask.nii.gz", array=arr, **geo)
    return cohort


@pytest.mark.parametrize("kind", ["flip_z", "flip_y", "permuted"])
def test_mask_on_another_grid_of_the_same_region_passes_validation(dicom_cohort, kind):
    load_manifest(dicom_cohort)  # native grid: no note
    arr, geo = _variant(kind)
    write_mask(dicom_cohort.parent / "P2_mask.nii.gz", array=arr, **geo)
    table = load_manifest(dicom_cohort)
    assert any("P2_mask.nii.gz is on another voxel grid" in n for n in table.attrs["notes"])


def test_shifted_mask_refused_at_validation(dicom_cohort):
    arr, geo = _variant("shifted")
    write_mask(dicom_cohort.parent / "P2_mask.nii.gz", array=arr, **geo)
    err = _refused(dicom_cohort, r"does not cover the CT series' physical region: its box corners "
                                 r"lie up to 5.00 mm .*tolerance 0.40 mm")
    assert err.path == "P2_mask.nii.gz" and err.case == case_id("P2")


def _image():
    arr, geo = _native()
    img = sitk.GetImageFromArray(np.zeros(arr.shape, np.int16))
    for key, value in geo.items():
        getattr(img, f"Set{key}")(value)
    return img


@pytest.mark.parametrize("kind", ["flip_z", "flip_y", "permuted"])
def test_preprocess_resamples_a_flipped_or_permuted_mask_exactly(kind):
    native, _ = _native()
    arr, geo = _variant(kind)
    mask = sitk.GetImageFromArray(arr)
    for key, value in geo.items():
        getattr(mask, f"Set{key}")(value)
    out, note = fit_mask_to_image(_image(), mask, case="c1", mask_path="m.nii.gz")
    assert "resampled onto the image grid" in note
    assert np.array_equal(sitk.GetArrayFromImage(out), native)


def test_preprocess_refuses_a_shifted_mask(tmp_path):
    arr, geo = _variant("shifted")
    write_mask(tmp_path / "m.nii.gz", array=arr, **geo)
    sitk.WriteImage(_image(), str(tmp_path / "img.nii.gz"))
    with pytest.raises(InputError, match="does not cover the image's physical region.*field origin|"
                                         "field origin.*does not cover"):
        fit_mask_to_image(_image(), sitk.ReadImage(str(tmp_path / "m.nii.gz")), case="c1",
                          mask_path="m.nii.gz")


def test_preprocess_cli_on_a_flipped_mask_equals_the_native_one(tmp_path, capsys):
    sitk.WriteImage(_image(), str(tmp_path / "img.nii.gz"))
    outs = {}
    for kind in ("native", "flip_z"):
        arr, geo = _variant(kind)
        write_mask(tmp_path / f"{kind}.nii.gz", array=arr, **geo)
        assert main(["preprocess", "--case-id", "c1", "--image", str(tmp_path / "img.nii.gz"),
                     "--mask", str(tmp_path / f"{kind}.nii.gz"), "--labels", "19:T12,20:L1",
                     "--min-voxels", "1", "--out-image", str(tmp_path / f"i_{kind}.nii.gz"),
                     "--out-mask", str(tmp_path / f"o_{kind}.nii.gz")]) == 0
        outs[kind] = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / f"o_{kind}.nii.gz")))
    assert "resampled onto the image grid" in capsys.readouterr().out
    assert np.array_equal(outs["native"], outs["flip_z"])


def test_label_counts_refuses_nan():
    img = sitk.GetImageFromArray(np.array([[[np.nan, 1.0]]], np.float32))
    with pytest.raises(InputError, match="NaN"):
        label_counts(img, case="c1", mask_path="m.nii.gz")


# ---- 6. preprocess spacing ------------------------------------------------------------------

@pytest.mark.parametrize("spacing", [["0", "1", "1"], ["1", "-1", "1"], ["1", "1", "nan"]])
def test_preprocess_refuses_zero_or_negative_spacing(tmp_path, capsys, spacing):
    sitk.WriteImage(_image(), str(tmp_path / "img.nii.gz"))
    arr, geo = _native()
    write_mask(tmp_path / "m.nii.gz", array=arr, **geo)
    assert main(["preprocess", "--case-id", "c1", "--image", str(tmp_path / "img.nii.gz"),
                 "--mask", str(tmp_path / "m.nii.gz"), "--labels", "19:T12", "--spacing", *spacing,
                 "--out-image", str(tmp_path / "i.nii.gz"), "--out-mask", str(tmp_path / "o.nii.gz")]) == 2
    err = capsys.readouterr().err
    assert "--spacing must be three positive voxel sizes" in err and "field preprocess.spacing" in err
    assert not (tmp_path / "i.nii.gz").exists()


def test_config_spacing_zero_refused_by_the_schema(tmp_path):
    proc = run_snakemake(tmp_path, "-n", check=False, extra_config="preprocess:\n  spacing: [1.0, 0, 1.0]\n")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "spacing" in out and "0 is less than or equal to the minimum of 0" in out


# ---- 3. CT-only cohorts ---------------------------------------------------------------------

def _ct_only(cohort):  # noqa: F811
    required = ["patient_id", "site", "split", "dicom_dir", "mask_path", "mask_label", "level"]
    pd.read_csv(cohort)[required].to_csv(cohort, index=False)
    return cohort


def test_ct_only_cohort_skips_every_study_in_one_line(cohort):  # noqa: F811
    table = load_manifest(_ct_only(cohort), studies=list(STUDY_COLUMNS), required=[])
    skipped = table.attrs["skipped_studies"]
    assert sorted(skipped) == sorted(STUDY_COLUMNS) and table.attrs["studies"] == []
    (line,) = table.attrs["notes"]
    for study, cols in skipped.items():
        assert f"{study} ({', '.join(cols)})" in line
    assert "astlof_class" in line and "xray_lateral_path" in line and "cohort.required_studies" in line


def test_required_study_lacking_columns_refused_with_all_of_them(cohort):  # noqa: F811
    err = _refused(_ct_only(cohort), r"required study liu2025_dlr needs column\(s\) \['mask_reader2_path', 'fracture'",
                   studies=["liu2025_dlr", "qu2025_mil"], required=["liu2025_dlr"])
    assert "pain" in str(err) and "qu2025_mil" not in str(err)


def test_cli_skips_with_one_line(cohort, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "v.csv"
    assert main(["validate-manifest", "--manifest", str(_ct_only(cohort)), "--out", str(out),
                 "--studies", ",".join(STUDY_COLUMNS)]) == 0
    err = capsys.readouterr().err
    assert err.count("studies skipped") == 1 and "liu2025_dlr (" in err
    assert main(["validate-manifest", "--manifest", str(cohort), "--out", str(out),
                 "--studies", "liu2025_dlr", "--required", "liu2025_dlr"]) == 2


def test_liu_needs_its_labels_only_on_the_rows_it_analyses(cohort):  # noqa: F811
    rewrite(cohort, fracture=(1, 0))
    for col in ("astlof_class", "astlof_pain", "pain"):
        rewrite(cohort, **{col: (1, None)})
    load_manifest(cohort, studies=["liu2025_dlr"], study_config={"liu2025_dlr": {"vertebrae": "fractured"}})
    err = _refused(cohort, r"study liu2025_dlr needs column 'astlof_class', "
                           r"blank in manifest rows \[3\]", studies=["liu2025_dlr"],
                   study_config={"liu2025_dlr": {"vertebrae": "all"}})
    assert err.field == "astlof_class"
    rewrite(cohort, fracture=(1, 1))
    rewrite(cohort, fracture=(0, 0))
    _refused(cohort, r"needs column 'astlof_class' on a row the study analyses, blank in manifest rows \[3\]",
             studies=["liu2025_dlr"], study_config={"liu2025_dlr": {"vertebrae": "fractured"}})
    rewrite(cohort, fracture=(1, None))
    _refused(cohort, "needs column 'fracture' .it selects the vertebrae", studies=["liu2025_dlr"],
             study_config={"liu2025_dlr": {"vertebrae": "fractured"}})


def _config_with_manifest(manifest, **extra):
    cfg = {"cohort": {"source": "manifest", "manifest": str(manifest), **extra}}
    return json.dumps(cfg)  # JSON is YAML


def test_workflow_leaves_skipped_studies_out(cohort, tmp_path):  # noqa: F811
    run = tmp_path / "run"
    run.mkdir()
    proc = run_snakemake(run, "-n", "-p", "--workflow-profile", "none", "results/ingest/qc.csv",
                         extra_config=_config_with_manifest(_ct_only(cohort)))
    out = proc.stdout + proc.stderr
    assert out.count("studies skipped: the manifest lacks their columns") == 1
    validate = next(line for line in out.splitlines() if "vfrepro validate-manifest" in line)
    assert "--studies= " in validate and "--required= " in validate
    # Made required: still planned (validate-manifest then refuses, naming the columns).
    proc = run_snakemake(run, "-n", "-p", "--workflow-profile", "none", "results/ingest/qc.csv",
                         extra_config=_config_with_manifest(cohort, required_studies=["liu2025_dlr"]))
    out = proc.stdout + proc.stderr
    assert "liu2025_dlr (" not in out and "--required=liu2025_dlr" in out


def test_study_check_config_reads_only_the_listed_keys():
    cfg = {"liu2025_dlr": {"vertebrae": "all", "combat": {"covariates": ["age"], "parametric": True},
                           "seed": 1}, "qu2025_mil": {"seed": 2}}
    assert study_check_config(cfg, ["liu2025_dlr", "qu2025_mil"]) == {
        "liu2025_dlr": {"vertebrae": "all", "combat": {"covariates": ["age"]}}}


# ---- 4. site names --------------------------------------------------------------------------

@pytest.mark.parametrize("site", ["Site A", "site/1", "Zürich", "a;b"])
def test_site_names_with_spaces_or_punctuation_refused(cohort, site):  # noqa: F811
    rewrite(cohort, site=(slice(0, 1), site))
    err = _refused(cohort, r"site name\(s\) .* \(rows \[2, 3\]\) have characters other than letters")
    assert err.field == "site" and err.case == case_id("P1") and "montage_<site>.png" in str(err)


# ---- 5. ComBat covariates -------------------------------------------------------------------

@pytest.fixture
def combat_cohort(tmp_path):
    """Four training patients on two sites, one external: ComBat's covariates vary within sites."""
    rows = []
    people = [("P1", "A", "train", "F", 70), ("P2", "A", "train", "M", 64), ("P3", "B", "train", "F", 58),
              ("P4", "B", "train", "M", 81), ("P5", "C", "external", "F", 77)]
    for pid, site, split, sex, age in people:
        (tmp_path / "dicom" / pid).mkdir(parents=True)
        write_mask(tmp_path / f"{pid}_mask.nii.gz")
        for level, label in (("T12", 19), ("L1", 20)):
            rows.append(dict(patient_id=pid, site=site, split=split, dicom_dir=f"dicom/{pid}",
                             mask_path=f"{pid}_mask.nii.gz", mask_label=label, mask_reader2_path=None,
                             level=level, fracture=1, astlof_morphology=1, astlof_mri=1, astlof_bmd=1,
                             astlof_pain=1, astlof_class=1, age=age, sex=sex, t_score=-2.5, pain="none"))
    path = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _liu(manifest, match):
    return _refused(manifest, match, studies=["liu2025_dlr"], study_config=LIU_CFG)


def test_combat_covariates_fine(combat_cohort):
    load_manifest(combat_cohort, studies=["liu2025_dlr"], study_config=LIU_CFG)


def test_combat_covariate_single_level_in_training(combat_cohort):
    rewrite(combat_cohort, sex=(slice(0, 7), "F"))   # every training row F (external M does not count)
    rewrite(combat_cohort, sex=(slice(8, 9), "M"))
    err = _liu(combat_cohort, r"ComBat covariate 'sex' \(liu2025_dlr.combat.covariates\) has a single "
                              r"level \('F'\) in the training rows \(sites A, B\)")
    assert err.field == "sex"


def test_combat_covariate_confounded_with_site(combat_cohort):
    rewrite(combat_cohort, sex=(slice(0, 3), "F"))
    rewrite(combat_cohort, sex=(slice(4, 7), "M"))
    err = _liu(combat_cohort, r"ComBat covariate 'sex' \(liu2025_dlr.combat.covariates\) is confounded "
                              r"with site in the training rows \(it is determined by the site: A: F; B: M\)")
    assert err.field == "sex"


def test_combat_continuous_covariate_confounded_with_site(combat_cohort):
    rewrite(combat_cohort, age=(slice(0, 3), 60))
    rewrite(combat_cohort, age=(slice(4, 7), 80))
    _liu(combat_cohort, r"'age' .* is confounded with site .*A: 60; B: 80")


def test_combat_covariate_blank_names_key_and_site(combat_cohort):
    rewrite(combat_cohort, age=(slice(6, 6), None))
    err = _liu(combat_cohort, r"ComBat covariate 'age' \(liu2025_dlr.combat.covariates\) is blank on 1 "
                              r"analysed row\(s\), site\(s\) B")
    assert err.case == case_id("P4") and err.field == "age"


def test_combat_covariate_absent_names_the_config_key(combat_cohort):
    with pytest.raises(InputError, match=r"liu2025_dlr.combat.covariates lists \['bmi'\], which the manifest lacks"):
        load_manifest(combat_cohort, studies=["liu2025_dlr"],
                      study_config={"liu2025_dlr": {"combat": {"covariates": ["age", "bmi"]}}})


def test_combat_checked_on_analysed_rows_only(combat_cohort):
    # An unfractured vertebra is not analysed: a blank covariate (or label) there does not matter.
    rewrite(combat_cohort, fracture=(slice(9, 9), 0), astlof_class=(slice(9, 9), None), age=(slice(9, 9), None))
    load_manifest(combat_cohort, studies=["liu2025_dlr"], study_config=LIU_CFG)
    rewrite(combat_cohort, age=(slice(8, 8), None))
    _liu(combat_cohort, r"'age' .* is blank on 1 analysed row\(s\), site\(s\) C")


def test_validate_manifest_cli_reads_study_config(combat_cohort, tmp_path, capsys):
    rewrite(combat_cohort, sex=(slice(0, 3), "F"))
    rewrite(combat_cohort, sex=(slice(4, 7), "M"))
    args = ["validate-manifest", "--manifest", str(combat_cohort), "--out", str(tmp_path / "v.csv"),
            "--studies", "liu2025_dlr"]
    assert main(args) == 0  # no ComBat covariates given: nothing to check
    assert main(args + ["--study-config", json.dumps(LIU_CFG)]) == 2
    assert "liu2025_dlr.combat.covariates" in capsys.readouterr().err
    assert main(args + ["--study-config", "{not json"]) == 2
    assert "--study-config is not JSON" in capsys.readouterr().err

