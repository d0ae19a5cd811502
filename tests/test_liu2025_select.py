"""liu2025_dlr feature selection: ICC, Spearman greedy, LASSO, correlation pruning, fusion."""

import numpy as np
import pandas as pd
import pytest

from vfrepro.select import FusionModel, corr_prune, cv_folds, icc_filter, lasso_select, spearman_greedy


def test_spearman_greedy_removes_one_of_each_redundant_pair():
    rng = np.random.default_rng(0)
    a, b, c = rng.normal(size=(3, 80))
    X = pd.DataFrame({"a": a, "a_copy": a * 2 + 0.001 * rng.normal(size=80), "b": b, "c": c,
                      "c_mono": np.exp(c)})
    kept, removed = spearman_greedy(X, 0.9)
    assert "b" in kept and len(removed) == 2
    assert sum(f in kept for f in ("a", "a_copy")) == 1 and sum(f in kept for f in ("c", "c_mono")) == 1


def test_corr_prune_keeps_the_higher_ranked_feature():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 60))
    X = pd.DataFrame({"a": a, "a2": a + 0.3 * rng.normal(size=60), "b": b})
    kept, dropped = corr_prune(X, ["a2", "b", "a"], 0.5)
    assert kept == ["a2", "b"] and dropped[0]["feature"] == "a"


def test_icc_filter_keeps_stable_and_drops_reader_sensitive_features():
    rng = np.random.default_rng(2)
    n = 30
    truth = rng.normal(size=(n, 4))
    r1 = pd.DataFrame(truth, columns=["stable1", "stable2", "unstable1", "unstable2"])
    r2 = r1.copy()
    r2[["stable1", "stable2"]] += 0.05 * rng.normal(size=(n, 2))
    r2[["unstable1", "unstable2"]] += 1.5 * rng.normal(size=(n, 2))
    kept, table = icc_filter(r1, r2, 0.8)
    assert kept == ["stable1", "stable2"]
    assert (table.loc[["unstable1", "unstable2"], "icc"] < 0.8).all()


def test_cv_folds_group_patients_and_refuse_a_lone_class():
    y = np.array([0] * 12 + [1] * 6 + [2] * 4)
    g = np.repeat(np.arange(11), 2)
    f = cv_folds(y, g, 5, 0)
    for p in np.unique(g):
        assert len(set(f[g == p])) == 1
    assert f.max() + 1 == 2  # class 2 has 2 patients -> 2 folds
    with pytest.raises(ValueError, match="class 2 has 1 training patient"):
        cv_folds(np.array([0, 0, 1, 1, 2]), np.arange(5), 5, 0)


def _planted(n=150, p=12, seed=3):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{j}" for j in range(p)])
    score = 2.0 * X["f0"] - 1.5 * X["f1"]
    y = np.digitize(score + 0.5 * rng.normal(size=n), [-1.0, 1.0])
    return X, y, np.arange(n)


def test_lasso_select_finds_the_planted_features():
    X, y, g = _planted()
    sel, summary, imp = lasso_select(X, y, g, nfolds=5, seed=0)
    assert {"f0", "f1"} <= set(sel)
    assert list(imp.index[:2]) in (["f0", "f1"], ["f1", "f0"])
    assert summary["nfolds"] == 5


def test_fusion_radscore_tracks_the_class():
    X, y, g = _planted()
    rng = np.random.default_rng(4)
    dtl = pd.DataFrame(rng.normal(size=(len(X), 40)), columns=[f"dtl_{j}" for j in range(40)])
    fm = FusionModel(n_components=5, seed=0).fit(X, dtl, y, g, nfolds=5)
    Z = fm.transform(X, dtl)
    rs = fm.radscore(Z)
    assert list(Z.columns) == fm.selected_ and "f0" in fm.selected_
    assert rs.groupby(y).mean().is_monotonic_increasing


def _study_tables(n_pat=60, seed=5, n_dtl=50):
    """Harmonised radiomics, DTL features and the cohort table of a small study."""
    X, y, _ = _planted(n=2 * n_pat, seed=seed)
    rng = np.random.default_rng(seed)
    keys = [f"c{i // 2}:{20 + i % 2}" for i in range(len(X))]
    X.index = keys
    # DTL: a few strong directions plus noise, so the variance spreads over many components
    base = rng.normal(size=(len(X), 6)) @ rng.normal(size=(6, n_dtl))
    dtl = pd.DataFrame(base + 0.3 * rng.normal(size=(len(X), n_dtl)), index=keys,
                       columns=[f"dtl_{j}" for j in range(n_dtl)])
    split = np.where(np.arange(len(X)) // 2 < int(0.75 * n_pat), "train", "internal")
    cohort = pd.DataFrame({"key": keys, "case_id": [k.split(":")[0] for k in keys], "split": split,
                           "site": "s1", "label": y})
    return X, dtl, cohort


def test_pca_fraction_fitted_on_training_rows_only():
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    from vfrepro.studies.liu2025_dlr.features import pca_size
    X, dtl, cohort = _study_tables()
    tr = dtl.loc[cohort.set_index("key")["split"].eq("train").to_numpy()]
    k, info = pca_size(tr, 0.9)
    cum = np.cumsum(PCA().fit(StandardScaler().fit_transform(tr)).explained_variance_ratio_)
    assert k == int(np.argmax(cum >= 0.9)) + 1 and cum[k - 1] >= 0.9 > cum[k - 2]
    assert info["kept"] == k and info["warnings"] == []
    # changing validation rows does not move the size
    dtl2 = dtl.copy()
    dtl2.loc[~dtl.index.isin(tr.index)] *= 50
    assert pca_size(dtl2.loc[tr.index], 0.9)[0] == k


def test_pca_count_capped_by_a_small_cohort_warns():
    from vfrepro.studies.liu2025_dlr.features import pca_size
    _, dtl, _ = _study_tables(n_pat=10, n_dtl=80)
    tr = dtl.iloc[:12]
    k, info = pca_size(tr, 37)
    assert k == 11 and info["cap"] == 11
    assert info["warnings"] and "small cohort" in info["warnings"][0] and "37" in info["warnings"][0]
    # n - 1 components explain all the training variance: a fraction is always reachable
    k, info = pca_size(tr, 0.999)
    assert k <= 11 and info["explained_variance"] >= 0.999 and info["warnings"] == []


def test_fuse_records_pca_and_lasso_path_consistent_with_the_selection():
    from vfrepro.studies.liu2025_dlr.features import fuse, lasso_tables
    X, dtl, cohort = _study_tables()
    table, fm, summary = fuse(X, list(X.columns), dtl, cohort,
                              {"pca_components": 0.9, "lasso_folds": 5, "min_features": 2}, seed=0)
    assert summary["pca"]["rule"].startswith("smallest k") and summary["pca_components"] == summary["pca"]["kept"]
    t = lasso_tables(fm)
    chosen = t["cv"].loc[t["cv"]["chosen"], "lambda"].item()
    assert np.isclose(chosen, summary["lasso"]["lambda"])
    at = t["path"][np.isclose(t["path"]["lambda"], chosen)]
    nz = sorted(at.loc[at["coef"] != 0, "feature"].unique())
    assert nz == sorted(fm.selected_)
    assert t["cv"]["cv_deviance"].idxmin() == t["cv"].index[t["cv"]["lambda_min"]][0]
    rad = t["radscore"]
    assert set(rad["feature"]) == set(fm.selected_) | {"(Intercept)"} and set(rad["class"]) == {"0", "1", "2"}
