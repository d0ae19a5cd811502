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


def test_instance_auc_of_attention():
    att = np.array([[0.6, 0.1, 0.1, 0.1, 0.1], [0.1, 0.1, 0.5, 0.25, 0.05], [0.2] * 5,
                    [0.4, 0.2, 0.1, 0.2, 0.1]])
    lab = np.array([[1, 0, 0, 0, 0], [0, 0, 1, 1, 0], [0] * 5, [1, 0, -1, 0, 0]])
    r = Mx.instance_auc(att, lab)
    assert r["auc"] == pytest.approx(1.0) and r["n_bags"] == 3 and r["method"] == "delong"
    assert r["n_pos"] == 4 and r["n_neg"] == 10
    rb = Mx.instance_auc(att, lab, method="bootstrap", n_boot=200)
    assert rb["method"] == "bootstrap" and rb["auc"] == pytest.approx(1.0)
    assert Mx.instance_auc(att[2:3], lab[2:3]) is None


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
