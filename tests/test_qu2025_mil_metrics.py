"""qu2025_mil metrics and published numbers."""

from importlib import resources

import numpy as np
import pytest
import yaml
from statsmodels.stats.proportion import proportion_confint

from vfrepro.studies.qu2025_mil import metrics as Mx


def test_accuracy_ci_is_wilson():
    y = np.array([0, 1, 2, 3, 4, 5] * 5)
    p = y.copy()
    p[:7] = 5
    r = Mx.accuracy_ci(y, p)
    k = int((y == p).sum())
    assert r["accuracy"] == pytest.approx(k / 30) and r["method"] == "wilson"
    lo, hi = proportion_confint(k, 30, alpha=0.05, method="wilson")
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((lo, hi))


def test_per_class_table_and_confusion():
    y = [0, 0, 1, 1, 5, 5, 5, 5]
    p = [0, 5, 1, 1, 5, 5, 0, 5]
    t = Mx.per_class_table(y, p)
    row = t.set_index("name")
    assert row.loc["A0", "accuracy"] == 0.5 and row.loc["AZ", "accuracy"] == 0.75
    assert row.loc["A0", "precision"] == 0.5 and row.loc["A2", "support"] == 0
    macro = t[t["class"] == "macro"].iloc[0]
    assert macro["recall"] == pytest.approx((0.5 + 1.0 + 0.75) / 3)
    cm = Mx.confusion(y, p)
    assert cm.shape == (6, 6) and cm.loc["A0", "AZ"] == 1 and cm.loc["AZ", "A0"] == 1
    assert int(cm.values.trace()) == 6


def test_accuracy_ci_resamples_patients_when_they_repeat():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 6, 120)
    p = y.copy()
    bad = np.repeat(rng.random(30) < 0.35, 4)          # a patient's 4 vertebrae right or wrong together
    p[bad] = (y[bad] + 1) % 6
    g = np.repeat([f"p{i}" for i in range(30)], 4)
    r = Mx.accuracy_ci(y, p, groups=g, n_boot=2000, seed=0)
    assert r["method"] == "cluster bootstrap" and r["n_patients"] == 30
    lo, hi = proportion_confint(int((y == p).sum()), 120, alpha=0.05, method="wilson")
    assert (r["wilson_ci_low"], r["wilson_ci_high"]) == pytest.approx((lo, hi))
    assert r["ci_high"] - r["ci_low"] > 1.5 * (hi - lo)     # correlated vertebrae: wider than Wilson
    d = Mx.accuracy_ci(np.repeat(y, 2), np.repeat(p, 2), groups=np.repeat(g, 2), n_boot=2000, seed=0)
    assert (d["ci_low"], d["ci_high"]) == pytest.approx((r["ci_low"], r["ci_high"]))
    assert d["wilson_ci_high"] - d["wilson_ci_low"] < 0.8 * (hi - lo)
    one = Mx.accuracy_ci(y, p, groups=[f"q{i}" for i in range(120)])   # one vertebra per patient
    assert one["method"] == "wilson" and (one["ci_low"], one["ci_high"]) == pytest.approx((lo, hi))


def test_instance_auc_of_attention():
    att = np.array([[0.6, 0.1, 0.1, 0.1, 0.1], [0.1, 0.1, 0.5, 0.25, 0.05], [0.2] * 5,
                    [0.4, 0.2, 0.1, 0.2, 0.1]])
    lab = np.array([[1, 0, 0, 0, 0], [0, 0, 1, 1, 0], [0] * 5, [1, 0, -1, 0, 0]])
    r = Mx.instance_auc(att, lab)
    assert r["auc"] == pytest.approx(1.0) and r["n_bags"] == 3 and r["method"] == "cluster bootstrap"
    assert r["n_pos"] == 4 and r["n_neg"] == 10 and r["n_groups"] == 3
    assert np.isnan(r["ci_low"]) and "patient(s) < 5" in r["note"]    # 3 bags: too few units for a CI
    assert Mx.instance_auc(att[2:3], lab[2:3]) is None
    with pytest.raises(ValueError, match="delong or bootstrap"):
        Mx.instance_auc(att, lab, method="wald")


def test_instance_auc_resamples_bags_then_patients():
    from vfrepro.stats.roc import cluster_bootstrap_auc_ci, delong_ci
    rng = np.random.default_rng(2)
    B, N = 24, 5
    lab = np.zeros((B, N), int)
    lab[np.arange(B), rng.integers(0, N, B)] = 1
    att = rng.random((B, N)) + 0.8 * lab + rng.normal(0, 0.6, (B, 1))   # a bag-level shift: correlated slices
    r = Mx.instance_auc(att, lab, n_boot=500, seed=1)
    ref = cluster_bootstrap_auc_ci(lab.ravel(), att.ravel(), np.repeat(np.arange(B), N), n_boot=500, seed=1)
    assert (r["auc"], r["ci_low"], r["ci_high"]) == pytest.approx((ref.auc, ref.ci_low, ref.ci_high))
    assert r["method"] == "cluster bootstrap" and r["n_groups"] == B
    dl = delong_ci(lab.ravel(), att.ravel())
    assert r["auc"] == pytest.approx(dl.auc)
    pat = np.repeat(np.arange(B // 2), 2)        # two bags per patient
    rp = Mx.instance_auc(att, lab, n_boot=500, seed=1, groups=pat)
    refp = cluster_bootstrap_auc_ci(lab.ravel(), att.ravel(), np.repeat(pat, N), n_boot=500, seed=1)
    assert rp["n_groups"] == B // 2 and (rp["ci_low"], rp["ci_high"]) == pytest.approx((refp.ci_low, refp.ci_high))
    with pytest.raises(ValueError, match="one per bag"):
        Mx.instance_auc(att, lab, groups=pat[:-1])


def test_published_numbers_file():
    text = resources.files("vfrepro.data").joinpath("published/qu2025_mil.yaml").read_text()
    doc = yaml.safe_load(text)
    assert "Qu" in doc["citation"]
    fields = {"study", "source", "row", "column", "quantity", "value", "ci_low", "ci_high", "note"}
    assert all(fields <= set(r) for r in doc["records"])
    val = {(r["row"], r["column"], r["quantity"]): r["value"] for r in doc["records"]}
    assert val[("S", "validation", "accuracy")] == 0.752
    assert val[("Z", "validation", "accuracy")] == 0.88
    assert val[("ensemble", "validation", "accuracy")] == 0.838
    assert val[("S class 2", "validation", "accuracy")] == 0.20
    assert val[("Z class 5", "validation", "accuracy")] == 0.98
    assert val[("interns with model", "reader study", "accuracy")] == 0.95
