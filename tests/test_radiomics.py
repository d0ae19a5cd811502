"""PyRadiomics extraction per vertebra (liu2025_dlr stage 1)."""

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from vfrepro.cli import main
from vfrepro.errors import InputError
from vfrepro.radiomics.extract import extract_case, feature_columns, load_params, parse_labels


def _write_case(tmp_path, seed=0):
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:30, :40, :40]
    lab = np.zeros((30, 40, 40), np.uint8)
    lab[((z - 15) / 9) ** 2 + ((y - 20) / 12) ** 2 + ((x - 20) / 12) ** 2 <= 1] = 20
    lab[((z - 15) / 4) ** 2 + ((y - 20) / 4) ** 2 + ((x - 33) / 4) ** 2 <= 1] = 21  # small second ROI
    img = rng.normal(150, 40, lab.shape).astype(np.float32)
    img[lab == 0] = 40
    for arr, name in ((img, "image.nii.gz"), (lab, "mask.nii.gz")):
        im = sitk.GetImageFromArray(arr)
        im.SetSpacing((1.0, 1.0, 1.0))
        sitk.WriteImage(im, str(tmp_path / name))
    return tmp_path / "image.nii.gz", tmp_path / "mask.nii.gz"


def test_repo_params_cover_the_papers_feature_classes():
    p = load_params()
    assert set(p["featureClass"]) == {"firstorder", "shape", "glcm", "glszm", "glrlm", "ngtdm", "gldm"}
    assert load_params(bin_width=10)["setting"]["binWidth"] == 10


def test_extract_gives_finite_features_and_bad_labels_do_not_lose_others(tmp_path):
    image, mask = _write_case(tmp_path)
    t = extract_case(image, mask, {20: "L1", 21: "L2", 22: "L3"}, "c0000000001", 1, load_params(bin_width=25))
    assert t["status"].tolist() == ["ok", "ok", "error"]
    assert "absent" in t.loc[2, "message"]
    feats = feature_columns(t)
    assert len(feats) > 90
    assert np.isfinite(t.loc[:1, feats].to_numpy(float)).all()
    assert any(f.startswith("original_glszm") for f in feats) and any(f.startswith("original_shape") for f in feats)
    # The larger ROI has the larger volume.
    assert t.loc[0, "original_shape_MeshVolume"] > t.loc[1, "original_shape_MeshVolume"]


def test_bin_width_changes_texture_not_shape(tmp_path):
    image, mask = _write_case(tmp_path)
    a = extract_case(image, mask, {20: "L1"}, "c1", 1, load_params(bin_width=25))
    b = extract_case(image, mask, {20: "L1"}, "c1", 1, load_params(bin_width=5))
    assert a["original_shape_MeshVolume"].iloc[0] == b["original_shape_MeshVolume"].iloc[0]
    assert a["original_glcm_JointEntropy"].iloc[0] < b["original_glcm_JointEntropy"].iloc[0]


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    with pytest.raises(InputError, match="LABEL:LEVEL"):
        parse_labels("x:L1")
    with pytest.raises(InputError, match="c9"):
        extract_case(tmp_path / "no.nii.gz", tmp_path / "no.nii.gz", {20: "L1"}, "c9", 1, load_params())


def test_cli_writes_one_row_per_vertebra(tmp_path):
    image, mask = _write_case(tmp_path)
    out = tmp_path / "f.csv"
    assert main(["radiomics", "--case-id", "c0000000001", "--image", str(image), "--mask", str(mask),
                 "--labels", "20:L1,21:L2", "--bin-width", "25", "--out", str(out)]) == 0
    t = pd.read_csv(out)
    assert len(t) == 2 and (t["status"] == "ok").all() and "patient_id" not in t.columns
