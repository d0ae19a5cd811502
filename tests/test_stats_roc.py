"""AUC / DeLong / bootstrap: checked against pROC 1.18 (oracle), plus properties."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from vfrepro.stats import roc

try:
    from oracle.rbridge import read_out, run_r
except ImportError:  # tests/ imported as a package
    from tests.oracle.rbridge import read_out, run_r


def _dataset(seed, n, prev, ties, shift=0.8):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prev).astype(int)
    y[0], y[1] = 0, 1  # both classes present even for tiny n
    a = rng.normal(size=n) + shift * y
    b = 0.6 * a + rng.normal(size=n) * 0.8 + 0.3 * y
    if ties:  # coarse scores: many ties within and across classes
        a, b = np.round(a * 2) / 2, np.round(b)
    return y, a, b


DATASETS = [
    (1, 5, 0.5, False), (2, 7, 0.3, True), (3, 40, 0.5, False), (4, 60, 0.2, True),
    (5, 300, 0.1, False), (6, 500, 0.5, True), (7, 2000, 0.3, False), (8, 1200, 0.05, True),
]


@pytest.fixture(scope="module")
def proc_results(tmp_path_factory):
    frames = []
    for k, (seed, n, prev, ties) in enumerate(DATASETS):
        y, a, b = _dataset(seed, n, prev, ties)
        frames.append(pd.DataFrame({"ds": k, "y": y, "a": a, "b": b}))
    wd = run_r("roc.R", tmp_path_factory.mktemp("roc"), packages=("pROC",),
               roc_in=pd.concat(frames, ignore_index=True))
    return read_out(wd).set_index("ds")


@pytest.mark.oracle
@pytest.mark.parametrize("k", range(len(DATASETS)))
def test_auc_delong_ci_matches_proc(proc_results, k):
    y, a, b = _dataset(*DATASETS[k])
    r = proc_results.loc[k]
    res = roc.delong_ci(y, a)
    np.testing.assert_allclose([res.auc, res.ci_low, res.ci_high], [r.auc_a, r.ci_low, r.ci_high],
                               rtol=1e-6, atol=1e-12)


@pytest.mark.oracle
@pytest.mark.parametrize("k", range(len(DATASETS)))
def test_delong_test_matches_proc_roc_test(proc_results, k):
    y, a, b = _dataset(*DATASETS[k])
    r = proc_results.loc[k]
    t = roc.delong_test(y, a, b)
    np.testing.assert_allclose([t["auc_a"], t["auc_b"], t["z"], t["p"], t["ci_low"], t["ci_high"]],
                               [r.auc_a, r.auc_b, r.z, r.p, r.d_low, r.d_high], rtol=1e-6, atol=1e-12)


def test_fast_delong_equals_naive_quadratic():
    for seed, n, prev, ties in DATASETS[:6]:
        y, a, b = _dataset(seed, n, prev, ties)
        fast, slow = roc.delong_test(y, a, b), roc.naive_delong_test(y, a, b)
        for key in ("auc_a", "auc_b", "z", "p"):
            assert fast[key] == pytest.approx(slow[key], rel=1e-9, abs=1e-12), key


def test_known_auc_values():
    # 3 positives vs 2 negatives: pairs (p>n) = 5 of 6, one tie -> (5 + 0.5)/6
    y = np.array([0, 0, 1, 1, 1])
    s = np.array([0.1, 0.5, 0.5, 0.7, 0.9])
    assert roc.auc(y, s) == pytest.approx(5.5 / 6)
    assert roc.auc(y, s, direction=">") == pytest.approx(0.5 / 6)
    assert roc.auc(y, -s, direction=">") == pytest.approx(5.5 / 6)


def test_errors_are_clear():
    with pytest.raises(ValueError, match="one positive and one negative"):
        roc.auc(np.zeros(4, int), np.arange(4.0))
    with pytest.raises(ValueError, match="exactly two classes"):
        roc.as_binary(["a", "b", "c"])
    with pytest.raises(ValueError, match="positive label 'x' does not occur"):
        roc.as_binary(["a", "b"], positive="x")
    with pytest.raises(ValueError, match="NaN"):
        roc.auc(np.array([0, 1]), np.array([0.0, np.nan]))


def test_bootstrap_seeded_determinism():
    y, a, _ = _dataset(11, 300, 0.3, False)
    r1 = roc.bootstrap_auc_ci(y, a, n_boot=500, seed=7)
    r2 = roc.bootstrap_auc_ci(y, a, n_boot=500, seed=7)
    r3 = roc.bootstrap_auc_ci(y, a, n_boot=500, seed=8)
    assert (r1.ci_low, r1.ci_high) == (r2.ci_low, r2.ci_high)
    assert (r1.ci_low, r1.ci_high) != (r3.ci_low, r3.ci_high)
    assert r1.ci_low < r1.auc < r1.ci_high


def test_weighted_auc_batch_equals_explicit_resample():
    rng = np.random.default_rng(3)
    pos, neg = np.round(rng.normal(1, 1, 30), 1), np.round(rng.normal(0, 1, 50), 1)
    ip, ineg = rng.integers(0, 30, (20, 30)), rng.integers(0, 50, (20, 50))
    wp = np.stack([np.bincount(r, minlength=30) for r in ip])
    wn = np.stack([np.bincount(r, minlength=50) for r in ineg])
    fast = roc.weighted_auc_batch(pos, neg, wp, wn, chunk=7)
    for b in range(20):
        yy = np.r_[np.ones(30), np.zeros(50)]
        ss = np.r_[pos[ip[b]], neg[ineg[b]]]
        assert fast[b] == pytest.approx(roc.auc(yy, ss), rel=1e-12)


def test_bootstrap_coverage_of_known_auc():
    # Binormal model: positives N(d,1), negatives N(0,1) -> true AUC = Phi(d / sqrt 2).
    from scipy.stats import norm
    d, n_pos, n_neg, reps = 1.0, 60, 90, 200
    true_auc = norm.cdf(d / np.sqrt(2))
    rng = np.random.default_rng(2024)
    hits = 0
    for r in range(reps):
        y = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
        s = np.r_[rng.normal(d, 1, n_pos), rng.normal(0, 1, n_neg)]
        ci = roc.bootstrap_auc_ci(y, s, n_boot=400, seed=r)
        hits += ci.ci_low <= true_auc <= ci.ci_high
    cover = hits / reps
    # 200 replicates: binomial SE ~1.5 points; percentile bootstrap runs slightly liberal.
    assert 0.88 <= cover <= 0.99, cover


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(4, 60), kind=st.sampled_from(["exp", "cube", "logit", "rank"]))
def test_auc_invariant_to_monotone_transform(seed, n, kind):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    s = np.round(rng.normal(size=n), 1)  # ties included
    f = {"exp": np.exp, "cube": lambda x: x ** 3 + x, "logit": lambda x: 1 / (1 + np.exp(-x)),
         "rank": lambda x: np.searchsorted(np.unique(x), x)}[kind]
    assert roc.auc(y, f(s)) == pytest.approx(roc.auc(y, s), abs=1e-12)
    ra, rb = roc.delong_ci(y, s), roc.delong_ci(y, f(s))
    assert rb.ci_low == pytest.approx(ra.ci_low, abs=1e-9, nan_ok=True)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(4, 80))
def test_delong_symmetric_in_a_b(seed, n):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:4] = [0, 1, 0, 1]  # DeLong's variance needs >= 2 cases per class
    a, b = np.round(rng.normal(size=(2, n)) + y, 1)
    ab, ba = roc.delong_test(y, a, b), roc.delong_test(y, b, a)
    assert ab["z"] == pytest.approx(-ba["z"], abs=1e-9)
    assert ab["p"] == pytest.approx(ba["p"], abs=1e-12)
    assert ab["ci_low"] == pytest.approx(-ba["ci_high"], abs=1e-12)


def _cli(argv, capsys):
    from vfrepro.stats.cli import main as stats_main
    assert stats_main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_auc_and_delong(tmp_path, capsys):
    y, a, b = _dataset(5, 300, 0.3, False)
    df = pd.DataFrame({"label": np.where(y == 1, "fracture", "none"), "p_a": a, "p_b": b})
    df.to_csv(tmp_path / "pred.csv", index=False)
    out = _cli(["auc", "--csv", str(tmp_path / "pred.csv"), "--truth", "label", "--score", "p_a",
                "--positive", "fracture"], capsys)
    ref = roc.delong_ci(y, a)
    assert out["auc"] == pytest.approx(ref.auc) and out["ci_low"] == pytest.approx(ref.ci_low)
    assert out["method"] == "delong" and out["n_pos"] == int(y.sum()) and out["n_neg"] == int((1 - y).sum())
    assert isinstance(out["auc"], float)
    out = _cli(["auc", "--csv", str(tmp_path / "pred.csv"), "--truth", "label", "--score", "p_a",
                "--positive", "fracture", "--method", "bootstrap", "--n-boot", "300", "--seed", "3"], capsys)
    ref = roc.bootstrap_auc_ci(y, a, n_boot=300, seed=3)
    assert (out["ci_low"], out["ci_high"]) == (ref.ci_low, ref.ci_high)
    out = _cli(["delong", "--csv", str(tmp_path / "pred.csv"), "--truth", "label", "--score-a", "p_a",
                "--score-b", "p_b", "--positive", "fracture"], capsys)
    assert out["z"] == pytest.approx(roc.delong_test(y, a, b)["z"])
    assert set(out) >= {"auc_a", "auc_b", "z", "p", "ci_low", "ci_high"}


def test_cli_names_missing_column(tmp_path):
    from vfrepro.stats.cli import main as stats_main
    pd.DataFrame({"y": [0, 1], "s": [0.1, 0.2]}).to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(SystemExit, match="column 'score' not in"):
        stats_main(["auc", "--csv", str(tmp_path / "p.csv"), "--truth", "y", "--score", "score"])
