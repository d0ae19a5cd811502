"""vfrepro.stats.cluster: the patient-level bootstrap of a proportion (accuracy and the like)."""

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.stats.proportion import proportion_confint

from vfrepro.stats import cluster_bootstrap_proportion, proportion_ci
from vfrepro.stats.roc import MIN_CI_GROUPS


def _clustered(n_pat=40, per=4, seed=1):
    """Correct / wrong per vertebra, correlated within the patient (a patient-level rate)."""
    rng = np.random.default_rng(seed)
    rate = rng.beta(2, 1, n_pat)
    x = (rng.random((n_pat, per)) < rate[:, None]).astype(int).ravel()
    return x, np.repeat([f"p{i}" for i in range(n_pat)], per)


def test_duplicating_rows_within_patients_leaves_the_ci_and_wilson_shrinks():
    x, g = _clustered()
    a = proportion_ci(x, g, n_boot=2000, seed=3)
    b = proportion_ci(np.repeat(x, 2), np.repeat(g, 2), n_boot=2000, seed=3)
    assert a["method"].startswith("cluster bootstrap") and a["n_groups"] == 40 and b["n"] == 2 * a["n"]
    assert b["value"] == pytest.approx(a["value"])
    assert (b["ci_low"], b["ci_high"]) == pytest.approx((a["ci_low"], a["ci_high"]), abs=1e-12)
    wa, wb = a["wilson_high"] - a["wilson_low"], b["wilson_high"] - b["wilson_low"]
    assert wb < 0.8 * wa                       # Wilson over rows: ~1/sqrt(2) narrower
    assert a["ci_high"] - a["ci_low"] > wa     # correlated rows: the patient CI is the wider


def test_bootstrap_se_matches_the_cluster_robust_se_of_statsmodels():
    x, g = _clustered(n_pat=60, per=3, seed=5)
    r = cluster_bootstrap_proportion(x, g, n_boot=4000, seed=0)
    codes = np.unique(g, return_inverse=True)[1]
    ols = sm.OLS(x.astype(float), np.ones(len(x))).fit(cov_type="cluster", cov_kwds={"groups": codes})
    assert r["value"] == pytest.approx(ols.params[0])
    assert r["se"] == pytest.approx(float(ols.bse[0]), rel=0.1)


def test_one_row_per_patient_is_wilson_and_the_bootstrap_agrees():
    rng = np.random.default_rng(0)
    x = (rng.random(400) < 0.7).astype(int)
    r = proportion_ci(x, [f"p{i}" for i in range(400)])
    lo, hi = proportion_confint(int(x.sum()), 400, method="wilson")
    assert r["method"].startswith("Wilson") and (r["ci_low"], r["ci_high"]) == pytest.approx((lo, hi))
    assert proportion_ci(x)["method"] == "Wilson score"
    b = cluster_bootstrap_proportion(x, np.arange(400), n_boot=4000, seed=0)
    assert (b["ci_low"], b["ci_high"]) == pytest.approx((lo, hi), abs=0.01)


def test_few_patients_no_ci_and_bad_input():
    r = cluster_bootstrap_proportion([1, 0, 1, 1], ["a", "a", "b", "b"])
    assert np.isnan(r["ci_low"]) and f"< {MIN_CI_GROUPS}" in r["note"] and r["value"] == 0.75
    x, g = _clustered()
    assert cluster_bootstrap_proportion(x, g, seed=4) == cluster_bootstrap_proportion(x, g, seed=4)
    with pytest.raises(ValueError, match="0/1"):
        cluster_bootstrap_proportion([0, 2], ["a", "b"])
    with pytest.raises(ValueError, match="entries"):
        cluster_bootstrap_proportion([0, 1, 1], ["a", "b"])
    assert np.isnan(proportion_ci([])["value"])
