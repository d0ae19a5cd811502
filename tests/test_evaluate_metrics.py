"""Evaluation metrics: one absent-class rule, CIs from stats.roc / stats.multiclass, sklearn parity."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from vfrepro.evaluate import metrics as M
from vfrepro.stats import bootstrap_auc_ci, delong_ci, multiclass_table


def data(n=90, K=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, n)
    L = rng.normal(size=(n, K)) + 1.5 * np.eye(K)[y]
    return y, np.exp(L) / np.exp(L).sum(1, keepdims=True)


def test_all_classes_present_is_the_multiclass_table():
    y, P = data()
    got = M.one_vs_rest(y, P, ["a", "b", "c"], n_boot=50, seed=1)
    ref = multiclass_table(y, P, classes=["a", "b", "c"], n_boot=50, seed=1)
    assert got["per_class"] == ref["per_class"] and got["overall"] == ref["overall"]
    assert got["absent"] == [] and got["note"] == ""
    assert got["overall"]["macro_auc"]["value"] == pytest.approx(roc_auc_score(y, P, multi_class="ovr"))


@pytest.mark.parametrize("ci", ["bootstrap", "delong"])
def test_absent_class_rule(ci):
    y, P = data()
    keep = y != 2
    y, P = y[keep], P[keep]
    r = M.one_vs_rest(y, P, [0, 1, 2], ci=ci, n_boot=40, seed=3)
    assert r["absent"] == ["2"] and "[2] absent" in r["note"]
    assert np.isnan(r["per_class"]["2"]["auc"]["value"]) and np.isnan(r["per_class"]["2"]["sensitivity"]["value"])
    # Specificity of the absent class is defined (all cases are its negatives).
    q = P.argmax(1)
    assert r["per_class"]["2"]["specificity"]["value"] == pytest.approx((q != 2).mean())
    for k in (0, 1):
        yk = (y == k).astype(int)
        ref = delong_ci(yk, P[:, k]) if ci == "delong" else bootstrap_auc_ci(yk, P[:, k], n_boot=40, seed=3)
        assert r["per_class"][str(k)]["auc"] == {"value": ref.auc, "ci_low": ref.ci_low, "ci_high": ref.ci_high}
        assert r["per_class"][str(k)]["accuracy"]["value"] == pytest.approx(((q == k) == (y == k)).mean())
    assert r["overall"]["macro_auc"]["value"] == pytest.approx(np.mean(
        [roc_auc_score(y == k, P[:, k]) for k in (0, 1)]))
    assert r["overall"]["accuracy"]["value"] == pytest.approx((q == y).mean())
    assert np.isnan(r["overall"]["micro_auc"]["value"])
    with pytest.raises(ValueError, match="ci must be"):
        M.one_vs_rest(y, P, [0, 1, 2], ci="wald")


def test_binary_counts_and_delong():
    y = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    s = np.array([0.1, 0.4, 0.6, 0.8, 0.7, 0.3, 0.9, 0.2])
    m = M.binary(y, s, s > 0.5)
    assert (m["TN"], m["FP"], m["FN"], m["TP"]) == (3, 1, 1, 3)
    assert m["sensitivity"] == 0.75 and m["specificity"] == 0.75 and m["accuracy"] == 0.75
    assert m["auc"] == pytest.approx(roc_auc_score(y, s))
    # 4 positives / 4 negatives: below the CI minimum, so no interval (not DeLong's from 8 cases).
    assert np.isnan(m["auc_ci_low"]) and "4 positive(s) < 5" in m["auc_ci_note"]
    yb, Pb = data(60, 2, seed=4)
    m = M.binary(yb, Pb[:, 1], Pb[:, 1] > 0.5)
    assert m["auc_ci_method"] == "DeLong"
    assert (m["auc_ci_low"], m["auc_ci_high"]) == (delong_ci(yb, Pb[:, 1]).ci_low, delong_ci(yb, Pb[:, 1]).ci_high)


def test_one_vs_all_multilabel():
    rng = np.random.default_rng(2)
    Y = rng.integers(0, 2, size=(60, 3))
    Y[:, 2] = 0  # a label never positive
    P = np.clip(0.3 * Y + 0.7 * rng.random(Y.shape), 0, 1)
    r = M.one_vs_all(Y, P, ["OF", "SN", "KD"])
    assert r["absent"] == ["KD"] and np.isnan(r["per_class"]["KD"]["auc"]["value"])
    for j, lab in enumerate(["OF", "SN"]):
        assert r["per_class"][lab]["auc"]["value"] == pytest.approx(roc_auc_score(Y[:, j], P[:, j]))
        assert r["per_class"][lab]["sensitivity"]["value"] == pytest.approx(
            ((P[:, j] >= 0.5) & (Y[:, j] == 1)).sum() / Y[:, j].sum())
    assert r["overall"]["macro_auc"]["value"] == pytest.approx(np.mean(
        [roc_auc_score(Y[:, j], P[:, j]) for j in (0, 1)]))
    assert r["overall"]["micro_auc"]["value"] == pytest.approx(roc_auc_score(Y.ravel(), P.ravel()))
    assert r["overall"]["micro_auc"]["ci_low"] < r["overall"]["micro_auc"]["value"]


def test_figures_draw(tmp_path):
    from vfrepro.evaluate.figures import ConfusionPanel, Curve, RocPanel, confusion_figure, roc_figure
    y, P = data(40)
    panels = [RocPanel("a", [Curve("class 0", (y == 0).astype(int), P[:, 0])]), RocPanel("empty", [])]
    roc_figure(panels, tmp_path / "roc.png", "t", band_boot=5)
    confusion_figure([ConfusionPanel("x", np.array([[3, 1], [0, 0]]), ["n", "y"])], tmp_path / "cm.png")
    assert (tmp_path / "roc.png").stat().st_size > 0 and (tmp_path / "cm.png").stat().st_size > 0
