"""No leakage: changing every non-training vertebra (internal, external, prospective) leaves
every fitted object of liu2025_dlr unchanged: ComBat estimates, selected features, DTL
scaler/PCA, fused scaler, final LASSO, hyperparameters and models; and the deep-feature
fine-tuning sees training images only."""

import json

import numpy as np
import pandas as pd

from vfrepro.studies import liu2025_dlr as L

CFG = {"icc_threshold": 0.8, "icc_form": "ICC2", "spearman_threshold": 0.9, "lasso_folds": 3, "lasso_rule": "min",
       "corr_threshold": 0.5, "min_features": 2, "pca_components": 4}
GRIDS = {"LR": {"C": [0.1, 1.0]}, "RF": {"n_estimators": [8], "max_depth": [2, 3]}}


def _cohort(seed=0, n_pat=36):
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_pat):
        split = ["train"] * 6 + ["internal", "external", "prospective"]
        s = split[p % len(split)]
        site = {"train": f"site{1 + p % 2}", "internal": f"site{1 + p % 2}", "external": "site3",
                "prospective": "site1"}[s]
        for lab in (20, 21):
            rows.append({"case_id": f"c{p:010d}", "mask_label": lab, "split": s, "site": site,
                         "label": int(rng.integers(0, 3)), "age": float(rng.integers(55, 90)),
                         "sex": "F" if rng.random() < 0.6 else "M", "reader2": s == "train" and p < 18})
    c = pd.DataFrame(rows)
    c.insert(0, "key", c["case_id"] + ":" + c["mask_label"].astype(str))
    return c


def _features(c, seed, perturb_nontrain=False):
    rng = np.random.default_rng(seed)
    n = len(c)
    X = rng.normal(size=(n, 12)) + c["label"].to_numpy()[:, None] * np.r_[1.0, 0.8, np.zeros(10)]
    X += (c["site"] == "site2").to_numpy()[:, None] * 0.7
    r1 = pd.DataFrame(X, index=c["key"], columns=[f"original_f{j}" for j in range(12)])
    sub = c.loc[c["reader2"], "key"]
    r2 = r1.loc[sub] + 0.05 * rng.normal(size=(len(sub), 12))
    dtl = pd.DataFrame(rng.normal(size=(n, 30)) + c["label"].to_numpy()[:, None] * 0.5, index=c["key"],
                       columns=[f"dtl_{j}" for j in range(30)])
    if perturb_nontrain:
        other = (c["split"] != "train").to_numpy()
        r1.loc[other] = r1.loc[other] * 3.0 + 10.0
        dtl.loc[other] = -dtl.loc[other] + 5.0
    return r1, r2, dtl


def _run(perturb):
    c = _cohort()
    r1, r2, dtl = _features(c, 1, perturb)
    harm, _, combat = L.harmonise(r1, c, ["age", "sex"], True)
    sel, steps = L.select_radiomics(harm, r1, r2, c, CFG, seed=0)
    fused, fusion, _ = L.fuse(harm, sel, dtl, c, CFG, 0)
    best, cv, _, _, pred, oof = L.classify(fused, GRIDS, 3, 0, 1, log=lambda m: None)
    return {"combat": combat, "steps": steps, "fusion": fusion, "best": best, "cv": cv, "pred": pred, "oof": oof}


def test_non_training_rows_do_not_change_any_fitted_object(tmp_path):
    a, b = _run(perturb=False), _run(perturb=True)
    a["combat"].save(tmp_path / "a.json")
    b["combat"].save(tmp_path / "b.json")
    assert json.loads((tmp_path / "a.json").read_text()) == json.loads((tmp_path / "b.json").read_text())
    for f in ("step1_icc.csv", "step2_spearman_kept.csv", "step3_lasso_kept.csv", "step4_corr_kept.csv"):
        pd.testing.assert_frame_equal(a["steps"][f], b["steps"][f])
    ma, mb = a["fusion"], b["fusion"]
    for attr in ("mean_", "scale_"):
        assert np.array_equal(getattr(ma.dtl_scaler_, attr), getattr(mb.dtl_scaler_, attr))
        assert np.array_equal(getattr(ma.scaler_, attr), getattr(mb.scaler_, attr))
    assert np.array_equal(ma.pca_.components_, mb.pca_.components_)
    assert ma.selected_ == mb.selected_ and ma.lasso_ == mb.lasso_
    pd.testing.assert_frame_equal(a["cv"], b["cv"])
    assert a["best"] == b["best"]
    # Same models: identical predictions on training rows, different inputs elsewhere.
    pa, pb = a["pred"], b["pred"]
    assert list(pa.columns[:5]) == ["case_id", "mask_label", "patient", "split", "truth"]
    tr = pa["split"] == "train"
    pd.testing.assert_frame_equal(pa[tr], pb[tr])
    pd.testing.assert_frame_equal(a["oof"], b["oof"])  # out-of-fold training predictions too
    probs = ["prob_0", "prob_1", "prob_2"]
    assert not pa[~tr][probs].equals(pb[~tr][probs])  # the test can fail


def test_deep_fine_tuning_sees_training_images_only(tmp_path):
    import SimpleITK as sitk
    from vfrepro.deep.resnet_features import DeepConfig, run

    rng = np.random.default_rng(0)
    rows = []
    for i in range(6):
        for tag in ("a", "b"):
            img = rng.normal(200, 40, (12, 24, 24)).astype(np.float32)
            if tag == "b" and i >= 4:
                img = img * -3.0  # the non-training images differ between the two runs
            lab = np.zeros(img.shape, np.uint8)
            lab[3:9, 6:18, 6:18] = 20
            sitk.WriteImage(sitk.GetImageFromArray(img if (tag == "b" and i >= 4) else img), str(tmp_path / f"{tag}{i}.nii.gz"))
            sitk.WriteImage(sitk.GetImageFromArray(lab), str(tmp_path / f"m{i}.nii.gz"))
        rows.append({"case_id": f"c{i:010d}", "mask_label": 20, "split": "train" if i < 4 else "external",
                     "label": i % 3, "mask": str(tmp_path / f"m{i}.nii.gz")})
    base = pd.DataFrame(rows)
    ta = base.assign(image=[str(tmp_path / f"a{i}.nii.gz") for i in range(6)])
    tb = base.assign(image=[str(tmp_path / (f"a{i}.nii.gz" if i < 4 else f"b{i}.nii.gz")) for i in range(6)])
    cfg = DeepConfig(n_slices=1, size=32, finetune_epochs=1, batch_size=4, seed=0)
    fa = run(ta, cfg, tmp_path / "fa.csv", tmp_path / "ma.json", "label", lambda m: None)
    fb = run(tb, cfg, tmp_path / "fb.csv", tmp_path / "mb.json", "label", lambda m: None)
    cols = [c for c in fa.columns if c.startswith("dtl_")]
    assert np.allclose(fa.loc[:3, cols], fb.loc[:3, cols], atol=1e-5)
    assert not np.allclose(fa.loc[4:, cols], fb.loc[4:, cols])
