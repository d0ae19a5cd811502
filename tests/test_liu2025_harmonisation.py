"""ComBat on radiomics of the synthetic cohort: site is predictable before, much less after.

The phantoms come from the cohort generator in memory (no DICOM round trip), with the
sites' scanner effects; features are PyRadiomics first-order + GLCM of one vertebra."""

import numpy as np
import pandas as pd
import SimpleITK as sitk
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vfrepro.cohort import pathology, phantom
from vfrepro.cohort.sites import make_sites
from vfrepro.radiomics import extract as radiomics_extract
from vfrepro.radiomics.extract import extract_case, feature_columns, load_params
from vfrepro.studies.liu2025_dlr import harmonise

N_PER_SITE = 7


def _cohort_features(tmp_path, monkeypatch):
    sites = make_sites(11, 4)
    params = load_params(bin_width=25)
    params["featureClass"] = {"firstorder": [], "glcm": ["JointEntropy", "Contrast", "Idm", "ClusterShade"]}
    # One extractor for every case: building one validates the params (~0.5 s each), and the
    # params are the same for all 28 cases. extract_case still reads, crops and extracts.
    extractor = radiomics_extract.make_extractor(params)
    monkeypatch.setattr(radiomics_extract, "make_extractor", lambda p: extractor)
    rows, feats = [], []
    for i in range(N_PER_SITE * len(sites)):
        site = sites[i % len(sites)]
        rng = np.random.default_rng(1000 + i)
        pat = pathology.draw_patient(rng)
        verts = pathology.draw_vertebrae(rng, pat, ["L1"])
        bodies = phantom.layout(rng, pat, verts)
        grid = phantom.make_grid(rng, bodies, site)
        ph = phantom.render(rng, pat, bodies, grid, site, rng)
        img = sitk.GetImageFromArray(ph.hu.astype(np.float32))
        lab = sitk.GetImageFromArray(ph.labels.astype(np.uint8))
        for im in (img, lab):
            im.SetSpacing(tuple(float(s) for s in grid.spacing))
        label = int(np.unique(ph.labels[ph.labels > 0])[0])
        sitk.WriteImage(img, str(tmp_path / "i.nii"))  # uncompressed: gzip is most of the I/O time
        sitk.WriteImage(lab, str(tmp_path / "m.nii"))
        t = extract_case(tmp_path / "i.nii", tmp_path / "m.nii", {label: "L1"}, f"c{i:010d}", 1, params)
        key = f"c{i:010d}:{label}"
        feats.append(t[feature_columns(t)].iloc[0].rename(key))
        rows.append({"key": key, "case_id": f"c{i:010d}", "site": site.name, "split": "train",
                     "age": pat.age, "sex": pat.sex})
    return pd.DataFrame(feats), pd.DataFrame(rows)


def _site_accuracy(X, site):
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    cv = StratifiedKFold(N_PER_SITE, shuffle=True, random_state=0)
    return cross_val_score(clf, X.to_numpy(), site, cv=cv).mean()


def test_site_predictable_from_raw_radiomics_and_much_less_after_combat(tmp_path, monkeypatch):
    X, cohort = _cohort_features(tmp_path, monkeypatch)
    X = X.loc[:, X.std() > 0]
    site = cohort["site"].to_numpy()
    raw = _site_accuracy(X, site)
    harm, info, _ = harmonise(X, cohort, ["age", "sex"], True)
    after = _site_accuracy(harm, site)
    assert raw >= 0.6, raw          # chance is 0.25 with 4 sites
    assert after <= raw - 0.25, (raw, after)
    assert info["unseen_sites_passed_through"] == []
