"""Radiomics and deep features on real CT vertebrae (TotalSegmentator example, labels 26-33)."""

import numpy as np
import pandas as pd
import SimpleITK as sitk

from vfrepro.deep.resnet_features import DeepConfig, build_resnet50, extract, roi_slices
from vfrepro.radiomics.extract import extract_case, feature_columns, load_params

LEVELS = {26: "S1", 27: "L5", 28: "L4", 29: "L3", 30: "L2", 31: "L1", 32: "T12", 33: "T11"}


def test_real_vertebrae_give_finite_radiomics_and_deep_features(realdata):
    ts = realdata / "totalsegmentator"
    image, labels = ts / "example_ct.nii.gz", ts / "example_ct_totalseg_labels.nii.gz"
    lab = sitk.GetArrayFromImage(sitk.ReadImage(str(labels)))
    present = {k: v for k, v in LEVELS.items() if (lab == k).sum() >= 50}
    assert len(present) >= 3
    t = extract_case(image, labels, present, "creal000001", 1, load_params(bin_width=25))
    ok = t[t["status"] == "ok"]
    assert len(ok) >= 3, t[["level", "message"]]
    assert np.isfinite(ok[feature_columns(ok)].to_numpy(float)).all()
    img = sitk.GetArrayFromImage(sitk.ReadImage(str(image), sitk.sitkFloat32))
    X = np.stack([roi_slices(img, lab == k, n_slices=1) for k in list(present)[:3]])
    model, _ = build_resnet50(DeepConfig(seed=0))
    f = extract(model, X, DeepConfig(seed=0))
    assert f.shape == (3, 2048) and np.isfinite(f).all()
