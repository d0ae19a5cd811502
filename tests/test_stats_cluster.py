"""Patient-level (cluster) bootstrap, paired macro-AUC comparison, CI minimum and p-value
adjustment (R p.adjust oracle)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from vfrepro.evaluate import metrics as M
from vfrepro.stats import adjust_p, multiclass_table
from vfrepro.stats import roc

try:
    from oracle.rbridge import read_out, run_r
except ImportError:  # tests/ imported as a package
    from tests.oracle.rbridge import read_out, run_r


def patients(n_pat=120, per=3, seed=0, K=None):
    """Patients with a shared random effect on their vertebrae (correlated rows)."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_pat), per)
    u = np.repeat(rng.normal(size=n_pat), per)
    if K is None:
        # Labels mostly shared within a patient (20% of vertebrae flipped).
        y = np.repeat(rng.random(n_pat) < 0.4, per) ^ (rng.random(len(g)) < 0.2)
        y = y.astype(int)
        s = 0.9 * y + u + 0.5 * rng.normal(size=len(g))
        return y, s, g
    y = np.where(rng.random(len(g)) < 0.3, rng.integers(0, K, len(g)), np.repeat(rng.integers(0, K, n_pat), per))
    L = 1.2 * np.eye(K)[y] + u[:, None] * rng.normal(size=(1, K)) + rng.normal(size=(len(g), K))
    return y, np.exp(L) / np.exp(L).sum(1, keepdims=True), g


def dup(*arrays):
    """Every row twice, the copy in the same patient."""
    return [np.concatenate([a, a]) for a in arrays]


def width(r):
    return r.ci_high - r.ci_low


def test_duplicating_rows_leaves_cluster_ci_and_shrinks_row_ci():
    y, s, g = patients()
    y2, s2, g2 = dup(y, s, g)
    c1 = roc.cluster_bootstrap_auc_ci(y, s, g, n_boot=2000, seed=1)
    c2 = roc.cluster_bootstrap_auc_ci(y2, s2, g2, n_boot=2000, seed=1)
    r1 = roc.bootstrap_auc_ci(y, s, n_boot=2000, seed=1)
    r2 = roc.bootstrap_auc_ci(y2, s2, n_boot=2000, seed=1)
    assert c1.auc == c2.auc == r1.auc == r2.auc
    assert c2.method == "cluster bootstrap"
    # Same patients drawn -> the duplicated sample's AUC in every resample is the original's.
    assert width(c2) == pytest.approx(width(c1), rel=1e-9)
    # A vertebra bootstrap sees twice the cases: its CI shrinks by about 1/sqrt(2).
    assert width(r2) / width(r1) < 0.8
    # Rows of a patient are correlated here, so the row CI is too narrow already without duplicates.
    assert width(r1) < width(c1)
    # DeLong shrinks the same way.
    assert width(roc.delong_ci(y2, s2)) / width(roc.delong_ci(y, s)) < 0.8


def test_duplication_via_metrics_auc_ci_and_multiclass():
    y, s, g = patients(seed=3)
    y2, s2, g2 = dup(y, s, g)
    a1, a2 = M.auc_ci(y, s, "delong", 2000, 0, groups=g), M.auc_ci(y2, s2, "delong", 2000, 0, groups=g2)
    assert a1["method"] == a2["method"] == "cluster bootstrap"  # groups override ci="delong"
    assert a2["ci_high"] - a2["ci_low"] == pytest.approx(a1["ci_high"] - a1["ci_low"], rel=1e-9)
    y, P, g = patients(seed=4, K=3)
    y2, P2, g2 = dup(y, P, g)
    t1 = M.one_vs_rest(y, P, [0, 1, 2], n_boot=500, seed=2, groups=g)
    t2 = M.one_vs_rest(y2, P2, [0, 1, 2], n_boot=500, seed=2, groups=g2)
    assert "not class-stratified" in t1["method"] and t1["n_groups"] == 120
    for c in ("0", "1", "2"):
        for m in ("auc", "sensitivity", "accuracy"):
            assert t2["per_class"][c][m]["ci_low"] == pytest.approx(t1["per_class"][c][m]["ci_low"], abs=1e-12)
    w = lambda t: t["overall"]["macro_auc"]["ci_high"] - t["overall"]["macro_auc"]["ci_low"]  # noqa: E731
    assert w(t2) == pytest.approx(w(t1), rel=1e-9)
    s1 = M.one_vs_rest(y, P, [0, 1, 2], n_boot=500, seed=2)
    s2 = M.one_vs_rest(y2, P2, [0, 1, 2], n_boot=500, seed=2)
    assert w(s2) / w(s1) < 0.85 and "stratified" in s1["method"]


def test_without_repeats_cluster_equals_unstratified_row_bootstrap_in_distribution():
    rng = np.random.default_rng(7)
    n = 300
    y = (rng.random(n) < 0.3).astype(int)
    s = rng.normal(size=n) + 0.8 * y
    c = roc.cluster_bootstrap_auc_ci(y, s, np.arange(n), n_boot=4000, seed=5)
    # Independent reference: explicit row resampling (not stratified), sklearn AUC, other RNG.
    rr = np.random.default_rng(123)
    ref = []
    for _ in range(4000):
        i = rr.integers(0, n, n)
        if 0 < y[i].sum() < n:
            ref.append(roc_auc_score(y[i], s[i]))
    ref = np.array(ref)
    assert c.se == pytest.approx(ref.std(ddof=1), rel=0.08)
    assert c.ci_low == pytest.approx(np.quantile(ref, 0.025), abs=0.012)
    assert c.ci_high == pytest.approx(np.quantile(ref, 0.975), abs=0.012)
    # and groups without repeats change nothing in the metrics layer
    assert M.auc_ci(y, s, groups=np.arange(n)) == M.auc_ci(y, s)


def test_paired_macro_auc_planted_difference_and_identical_models():
    y, P, g = patients(n_pat=80, seed=9, K=3)
    rng = np.random.default_rng(1)
    Pw = 0.5 * P + 0.5 * rng.dirichlet([1, 1, 1], len(y))  # a clearly weaker model
    r = M.paired_macro_auc(y, P, Pw, [0, 1, 2], groups=g, n_boot=2000, seed=0)
    assert r["diff"] == pytest.approx(r["macro_auc_a"] - r["macro_auc_b"]) and r["diff"] > 0
    assert r["macro_auc_a"] == pytest.approx(roc_auc_score(y, P, multi_class="ovr"))
    assert r["p"] < 0.01 and r["ci_low"] > 0
    assert r["n"] == 240 and r["n_groups"] == 80 and "cluster" in r["method"]
    same = M.paired_macro_auc(y, P, P.copy(), [0, 1, 2], groups=g, n_boot=2000, seed=0)
    assert same["p"] == 1.0 and same["ci_low"] <= 0 <= same["ci_high"] and same["diff"] == 0
    # Two models of equal quality (independent noise): CI covers 0, p not small.
    e1 = 0.7 * P + 0.3 * rng.dirichlet([1, 1, 1], len(y))
    e2 = 0.7 * P + 0.3 * rng.dirichlet([1, 1, 1], len(y))
    eq = M.paired_macro_auc(y, e1, e2, [0, 1, 2], groups=g, n_boot=2000, seed=0)
    assert eq["ci_low"] < 0 < eq["ci_high"] and eq["p"] > 0.05
    # Patient resampling: duplicating rows within patients leaves the CI; rows would narrow it.
    y2, P2, Pw2, g2 = dup(y, P, Pw, g)
    r2 = M.paired_macro_auc(y2, P2, Pw2, [0, 1, 2], groups=g2, n_boot=2000, seed=0)
    assert r2["ci_high"] - r2["ci_low"] == pytest.approx(r["ci_high"] - r["ci_low"], rel=1e-9)
    rows = M.paired_macro_auc(y2, P2, Pw2, [0, 1, 2], n_boot=2000, seed=0)
    assert (rows["ci_high"] - rows["ci_low"]) < 0.85 * (r["ci_high"] - r["ci_low"])
    # Seeded
    assert M.paired_macro_auc(y, P, Pw, [0, 1, 2], groups=g, n_boot=300, seed=4) == \
        M.paired_macro_auc(y, P, Pw, [0, 1, 2], groups=g, n_boot=300, seed=4)


def test_paired_macro_auc_errors_and_small():
    y, P, g = patients(n_pat=4, per=2, seed=2, K=3)
    r = M.paired_macro_auc(y, P, P, [0, 1, 2], groups=g)
    if (np.bincount(y, minlength=3) > 0).all():
        assert np.isnan(r["p"]) and "4 unit(s) < 5" in r["note"]
    with pytest.raises(ValueError, match="equal shape"):
        M.paired_macro_auc(y, P, P[:, :2], [0, 1, 2])


def test_ci_minimum():
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(4, int), np.zeros(40, int)]
    s = rng.normal(size=44) + y
    a = M.auc_ci(y, s, "bootstrap", 200, 0)
    assert np.isfinite(a["value"]) and np.isnan(a["ci_low"]) and "4 positive(s) < 5" in a["note"]
    y5 = np.r_[np.ones(5, int), np.zeros(40, int)]
    assert np.isfinite(M.auc_ci(y5, rng.normal(size=45), "delong")["ci_low"])
    # Patients: 20 rows but only 4 patients -> no CI.
    yy = np.tile([0, 1], 10)
    gg = np.repeat(np.arange(4), 5)
    a = M.auc_ci(yy, rng.normal(size=20) + yy, groups=gg)
    assert a["method"] == "cluster bootstrap" and np.isnan(a["ci_low"]) and "4 patient(s) < 5" in a["note"]
    # One-vs-rest: a class with 3 cases gets no CI for any of its metrics, the others keep theirs.
    yk = np.r_[np.zeros(30, int), np.ones(30, int), np.full(3, 2)]
    P = rng.dirichlet([1, 1, 1], len(yk))
    t = M.one_vs_rest(yk, P, ["a", "b", "c"], n_boot=100, seed=0)
    assert all(np.isnan(v["ci_low"]) for v in t["per_class"]["c"].values())
    assert np.isfinite(t["per_class"]["a"]["auc"]["ci_low"]) and "class c" in t["note"]


def test_multiclass_table_groups_without_repeats_is_stratified():
    y, P, _ = patients(n_pat=100, per=1, seed=5, K=3)
    a = multiclass_table(y, P, n_boot=200, seed=3, groups=np.arange(len(y)))
    b = multiclass_table(y, P, n_boot=200, seed=3)
    assert a["per_class"] == b["per_class"] and a["method"].startswith("stratified")


def test_one_vs_all_groups():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(60), 2)
    Y = rng.integers(0, 2, size=(120, 2))
    P = np.clip(0.3 * Y + 0.7 * rng.random(Y.shape), 0, 1)
    r = M.one_vs_all(Y, P, ["OF", "SN"], groups=g)
    assert r["method"].startswith("cluster bootstrap")
    r2 = M.one_vs_all(*dup(Y, P), ["OF", "SN"], groups=np.r_[g, g])
    assert r2["per_class"]["OF"]["auc"]["ci_low"] == pytest.approx(r["per_class"]["OF"]["auc"]["ci_low"])
    m = M.binary(*dup(Y[:, 0], P[:, 0], P[:, 0] > 0.5), groups=np.r_[g, g])
    assert m["auc_ci_method"] == "cluster bootstrap"
    assert m["auc_ci_low"] == pytest.approx(M.binary(Y[:, 0], P[:, 0], P[:, 0] > 0.5, groups=g)["auc_ci_low"])


def test_groups_errors():
    with pytest.raises(ValueError, match="groups has 3 entries"):
        roc.cluster_bootstrap_auc_ci([0, 1, 1, 0], [0.1, 0.2, 0.3, 0.4], [1, 2, 3])
    with pytest.raises(ValueError, match="missing"):
        roc.cluster_bootstrap_auc_ci([0, 1, 1, 0], [0.1, 0.2, 0.3, 0.4], ["a", None, "b", "c"])


# --------------------------------------------------------------------- p.adjust oracle
PSETS = [
    [0.01, 0.02, 0.03, 0.04, 0.05],
    [0.001, 0.2, np.nan, 0.04, 0.04, 0.9, 0.0001, np.nan, 0.5, 0.03, 0.03, 0.7],
    list(np.random.default_rng(11).random(40) ** 3),
    [0.5],
]


@pytest.mark.oracle
def test_adjust_p_matches_r_p_adjust(tmp_path):
    frames = [pd.DataFrame({"ds": k, "i": range(len(p)), "p": p}) for k, p in enumerate(PSETS)]
    wd = run_r("padjust.R", tmp_path, padjust_in=pd.concat(frames, ignore_index=True))
    out = read_out(wd)
    for k, p in enumerate(PSETS):
        ref = out[out["ds"] == k].sort_values("i")
        for m in ("holm", "bonferroni", "hochberg", "hommel", "BH", "BY"):
            np.testing.assert_allclose(adjust_p(p, m), ref[m].to_numpy(float), rtol=1e-12, atol=0,
                                       equal_nan=True, err_msg=f"{m} set {k}")


def test_adjust_p_errors():
    assert np.isnan(adjust_p([np.nan, np.nan])).all()
    with pytest.raises(ValueError, match="unknown"):
        adjust_p([0.1], "tukey")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        adjust_p([1.2], "holm")


def test_paired_auc_diff():
    y, s, g = patients(n_pat=80, seed=6)
    rng = np.random.default_rng(2)
    weak = s + 2.0 * rng.normal(size=len(s))
    r = M.paired_auc_diff(y, s, weak, groups=g, n_boot=1000, seed=0)
    assert r["p"] < 0.01 and r["ci_low"] > 0 and r["auc_a"] == pytest.approx(roc_auc_score(y, s))
    same = M.paired_auc_diff(y, s, s, groups=g, n_boot=1000, seed=0)
    assert same["p"] == 1.0 and same["ci_low"] == same["ci_high"] == 0


def test_liu_evaluation_resamples_patients_and_adjusts():
    """liu2025_dlr: metrics, delong and macro_comparison take the patient column as the unit:
    splitting each patient's vertebrae into two identical rows leaves their CIs and bootstrap p."""
    from pathlib import Path
    from vfrepro.evaluate.schema import read
    from vfrepro.studies.liu2025_dlr import evaluation as E
    ex = Path(__file__).resolve().parents[1] / "docs/examples"
    preds = {b: read(ex / f"liu2025_dlr_{b}_predictions.csv", ["0", "1", "2"]) for b in ("radimagenet", "imagenet")}
    doubled = {b: pd.concat([p, p.assign(mask_label=p["mask_label"] + 100)], ignore_index=True) for b, p in preds.items()}
    m1, m2 = E.metrics(preds, 200, 0), E.metrics(doubled, 200, 0)
    assert (m2["n"] == 2 * m1["n"]).all() and (m2["n_patients"] == m1["n_patients"]).all()
    assert m2["ci_method"].str.startswith("cluster bootstrap").all()
    quadrupled = {b: pd.concat([p, p.assign(mask_label=p["mask_label"] + 200)], ignore_index=True)
               for b, p in doubled.items()}
    m3 = E.metrics(quadrupled, 200, 0)
    # Two or four copies of each patient's row: the same patients are drawn, the same CIs.
    np.testing.assert_allclose(m3["ci_low"], m2["ci_low"], atol=1e-12)
    np.testing.assert_allclose(m3["ci_high"], m2["ci_high"], atol=1e-12)
    d1, d2 = E.delong(preds, 300, 0), E.delong(doubled, 300, 0)
    np.testing.assert_allclose(E.delong(quadrupled, 300, 0)["p_boot"], d2["p_boot"])
    assert (d2["n"] == 2 * d1["n"]).all() and (d2["n_patients"] == d1["n_patients"]).all()
    ok = d1["p"].notna()
    # DeLong counts vertebrae (smaller p when doubled); the patient bootstrap does not change.
    assert (d2.loc[ok, "p"] <= d1.loc[ok, "p"] + 1e-12).all()
    from vfrepro.stats import adjust_p
    np.testing.assert_allclose(d1["p_holm"], adjust_p(d1["p"], "holm"))
    c1, c2 = E.macro_comparison(preds, 300, 0), E.macro_comparison(doubled, 300, 0)
    assert list(c1["split"]) == ["train", "internal", "external", "prospective"]
    assert (c2["n_patients"] == c1["n_patients"]).all() and c2["method"].str.contains("cluster").all()
    np.testing.assert_allclose(c1["diff"], c1["macro_auc_radimagenet"] - c1["macro_auc_imagenet"])
    assert (c1["ci_low"] <= c1["diff"]).all() and (c1["diff"] <= c1["ci_high"]).all()
    assert ((c1["p_holm"] >= c1["p"]) & (c1["p"] > 0) & (c1["p"] <= 1)).all()
    assert any(r[0] == "resampling unit" for r in E.CHOSEN)
