"""Multiclass OvR table: point values against scikit-learn, bootstrap against an explicit loop."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix, roc_auc_score

from vfrepro.stats.multiclass import METRICS, multiclass_table


def _data(seed, n, K=3, ties=False):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, n)
    y[:K] = np.arange(K)
    logits = rng.normal(size=(n, K)) + 1.2 * np.eye(K)[y]
    P = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, (np.round(P, 1) if ties else P)


def _reference(y, P, K, pred=None):
    """Metrics from scikit-learn / confusion matrices on one (re)sample."""
    q = P.argmax(axis=1) if pred is None else pred
    per = {}
    for k in range(K):
        tn, fp, fn, tp = confusion_matrix(y == k, q == k, labels=[False, True]).ravel()
        per[k] = {"auc": roc_auc_score(y == k, P[:, k]), "accuracy": (tp + tn) / len(y),
                  "sensitivity": tp / (tp + fn), "specificity": tn / (tn + fp),
                  "ppv": tp / (tp + fp) if tp + fp else np.nan, "npv": tn / (tn + fn) if tn + fn else np.nan,
                  "f1": 2 * tp / (2 * tp + fp + fn)}
    Y = np.eye(K)[y]
    ov = {"accuracy": (q == y).mean(), "macro_auc": roc_auc_score(y, P, multi_class="ovr", average="macro"),
          "micro_auc": roc_auc_score(Y.ravel(), P.ravel())}
    return per, ov


@pytest.mark.parametrize("seed,n,K,ties", [(1, 60, 3, False), (2, 200, 4, True), (3, 31, 3, True)])
def test_point_values_match_sklearn(seed, n, K, ties):
    y, P = _data(seed, n, K, ties)
    P = P / P.sum(axis=1, keepdims=True)  # sklearn's ovr macro AUC insists on rows summing to 1
    t = multiclass_table(y, P, n_boot=0)
    per, ov = _reference(y, P, K)
    for k in range(K):
        for m in METRICS:
            assert t["per_class"][str(k)][m]["value"] == pytest.approx(per[k][m], rel=1e-12), (k, m)
    for m in ov:
        assert t["overall"][m]["value"] == pytest.approx(ov[m], rel=1e-12), m


def test_vectorised_bootstrap_equals_explicit_resampling():
    y, P = _data(4, 45, 3, ties=True)
    P = P / P.sum(axis=1, keepdims=True)  # for sklearn's macro AUC; ties survive
    B, seed, K = 60, 11, 3
    t = multiclass_table(y, P, n_boot=B, seed=seed)
    # Replay the documented draw order: per class, an (n_boot, n_k) index matrix.
    rng = np.random.default_rng(seed)
    members = [np.where(y == k)[0] for k in range(K)]
    draws = [rng.integers(0, len(m), size=(B, len(m)), dtype=np.int32) for m in members]
    per_s = {(k, m): [] for k in range(K) for m in METRICS}
    ov_s = {m: [] for m in ("accuracy", "macro_auc", "micro_auc")}
    for b in range(B):
        idx = np.concatenate([m[d[b]] for m, d in zip(members, draws)])
        per, ov = _reference(y[idx], P[idx], K)
        for k in range(K):
            for m in METRICS:
                per_s[(k, m)].append(per[k][m])
        for m in ov:
            ov_s[m].append(ov[m])
    for (k, m), s in per_s.items():
        s = np.array(s, float)
        lo, hi = np.quantile(s[np.isfinite(s)], [0.025, 0.975])
        got = t["per_class"][str(k)][m]
        assert (got["ci_low"], got["ci_high"]) == pytest.approx((lo, hi), rel=1e-12), (k, m)
    for m, s in ov_s.items():
        lo, hi = np.quantile(s, [0.025, 0.975])
        assert (t["overall"][m]["ci_low"], t["overall"][m]["ci_high"]) == pytest.approx((lo, hi), rel=1e-12), m


def test_seeded_and_stratified():
    y, P = _data(5, 150)
    a = multiclass_table(y, P, n_boot=200, seed=1)
    assert a == multiclass_table(y, P, n_boot=200, seed=1)
    assert a != multiclass_table(y, P, n_boot=200, seed=2)
    for c in a["classes"]:
        for m in METRICS:
            d = a["per_class"][c][m]
            assert d["ci_low"] <= d["value"] + 1e-9 or m == "ppv"  # percentile CI brackets the estimate here
            assert d["ci_low"] <= d["ci_high"]


def test_labels_and_errors():
    y, P = _data(6, 40)
    names = np.array(["none", "mild", "severe"])
    t1 = multiclass_table(names[y], P, classes=list(names), n_boot=0)
    t2 = multiclass_table(y, P, n_boot=0)
    assert t1["per_class"]["mild"]["auc"] == t2["per_class"]["1"]["auc"]
    with pytest.raises(ValueError, match=r"label\(s\) \['bogus'\]"):
        multiclass_table(np.r_[names[y][:-1], ["bogus"]], P, classes=list(names), n_boot=0)
    with pytest.raises(ValueError, match="have no cases"):
        multiclass_table(np.zeros(40, int) + (np.arange(40) % 2), P, n_boot=0)


def test_cli_multiclass(tmp_path, capsys):
    from vfrepro.stats.cli import main
    y, P = _data(7, 90)
    df = pd.DataFrame(P, columns=["c0", "c1", "c2"]).assign(grade=np.array(["c0", "c1", "c2"])[y])
    df.to_csv(tmp_path / "m.csv", index=False)
    assert main(["multiclass", "--csv", str(tmp_path / "m.csv"), "--truth", "grade", "--prob-cols", "c0,c1,c2",
                 "--n-boot", "100", "--seed", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    ref = multiclass_table(y, P, classes=["c0", "c1", "c2"], n_boot=100, seed=3)
    assert out["overall"]["micro_auc"] == pytest.approx(ref["overall"]["micro_auc"])
    assert out["per_class"]["c2"]["f1"]["ci_high"] == pytest.approx(ref["per_class"]["c2"]["f1"]["ci_high"])
