"""Lasso: lambda_max, path coefficients, selected sets and CV choice against glmnet (oracle)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from vfrepro.stats import lasso as L

try:
    from oracle.rbridge import read_out, run_r
except ImportError:
    from tests.oracle.rbridge import read_out, run_r

N_LAMBDA, NFOLDS = 30, 5


def _data(seed, n, p, K):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * rng.uniform(0.5, 20, p) + rng.uniform(-5, 5, p)  # unscaled on purpose
    Z = (X - X.mean(0)) / X.std(0)
    B = np.zeros((p, K))
    B[:3] = rng.normal(0, 1.2, (3, K))
    eta = Z @ B
    P = np.exp(eta - eta.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    y = np.array([rng.choice(K, p=pr) for pr in P])
    y[:K] = np.arange(K)
    labels = np.array(["neg", "pos"]) if K == 2 else np.array([f"g{j}" for j in range(K)])
    return pd.DataFrame(X, columns=[f"x{j}" for j in range(p)]), labels[y]


DATASETS = [(1, 150, 8, 2), (2, 40, 50, 2), (3, 240, 6, 3)]


@pytest.fixture(scope="module")
def fits():
    return [L.cv_lasso(*_data(*d), nfolds=NFOLDS, seed=k, n_lambda=N_LAMBDA) for k, d in enumerate(DATASETS)]


@pytest.fixture(scope="module")
def glmnet_results(tmp_path_factory, fits):
    frames, lams = [], []
    for k, (d, f) in enumerate(zip(DATASETS, fits)):
        X, y = _data(*d)
        frames.append(X.assign(ds=k, y=y, fold=f.foldid))
        lams.append(pd.DataFrame({"ds": k, "lambda": f.lambdas}))
    wd = run_r("lasso.R", tmp_path_factory.mktemp("lasso"), packages=("glmnet",),
               lasso_in=pd.concat(frames, ignore_index=True), lambdas=pd.concat(lams, ignore_index=True))
    return read_out(wd, "out_coef"), read_out(wd, "out_cv"), read_out(wd, "out_sum").set_index("ds")


@pytest.mark.oracle
@pytest.mark.parametrize("k", range(len(DATASETS)))
def test_lambda_max_and_path_match_glmnet(glmnet_results, fits, k):
    coefs, _, summ = glmnet_results
    f = fits[k]
    assert f.lambdas[0] == pytest.approx(summ.loc[k, "lambda_max"], rel=1e-6)
    ratio = 0.01 if DATASETS[k][1] < DATASETS[k][2] else 1e-4
    assert f.lambdas[-1] / f.lambdas[0] == pytest.approx(ratio)
    rc = coefs[coefs.ds == k].assign(term=lambda d: d.term.fillna("(Intercept)").replace("", "(Intercept)"))
    checked = 0
    for li, lam in enumerate(f.lambdas):
        ours = f.coef(lam, scale="original")
        ref = rc[rc.li == li].pivot(index="term", columns="class", values="value")
        ref = ref.loc[list(ours.index), [c if c in ref.columns else "coef" for c in ours.columns]]
        ref.columns = ours.columns
        b_ours, b_ref = ours.drop(index="(Intercept)"), ref.drop(index="(Intercept)")
        nz = b_ref.to_numpy() != 0
        b_std = np.abs(b_ref.to_numpy()) * f.x_sd[:, None]  # standardised scale: comparable sizes
        # Selected sets must be equal wherever glmnet's selection is not borderline (a feature
        # entering exactly at this lambda has a coefficient ~0 on both sides).
        if not nz.any() or b_std[nz].min() > 1e-3:
            assert np.array_equal(b_ours.to_numpy() != 0, nz), (li, lam)
            checked += 1
        scale = np.abs(b_ref.to_numpy()).max() + 1e-3
        np.testing.assert_allclose(b_ours.to_numpy(), b_ref.to_numpy(), atol=1e-3 * scale, rtol=1e-3)
        i_ours, i_ref = ours.loc["(Intercept)"].to_numpy(), ref.loc["(Intercept)"].to_numpy()
        if len(i_ours) > 1:  # multinomial intercepts are defined up to a common shift
            i_ours, i_ref = i_ours - i_ours.mean(), i_ref - i_ref.mean()
        np.testing.assert_allclose(i_ours, i_ref, atol=1e-3 * (np.abs(i_ref).max() + 1))
    assert checked >= N_LAMBDA // 2


@pytest.mark.oracle
@pytest.mark.parametrize("k", range(len(DATASETS)))
def test_cv_choice_matches_cv_glmnet(glmnet_results, fits, k):
    _, cv, summ = glmnet_results
    f = fits[k]
    rcv = cv[cv.ds == k].sort_values("li")
    # (Solver tolerances differ: glmnet CD to 1e-13 vs liblinear / SAGA; agreement ~3e-4.)
    np.testing.assert_allclose(f.cvm, rcv.cvm, rtol=1e-3)
    np.testing.assert_allclose(f.cvsd, rcv.cvsd, rtol=2e-2)
    assert f.lambda_min == pytest.approx(summ.loc[k, "lambda_min"], rel=1e-9)
    assert f.lambda_1se == pytest.approx(summ.loc[k, "lambda_1se"], rel=1e-9)
    assert f.lambda_1se >= f.lambda_min


def test_selects_true_signal_and_is_seeded():
    X, y = _data(1, 150, 8, 2)
    a = L.cv_lasso(X, y, nfolds=5, seed=3, n_lambda=20)
    b = L.cv_lasso(X, y, nfolds=5, seed=3, n_lambda=20)
    assert np.array_equal(a.foldid, b.foldid) and a.lambda_min == b.lambda_min
    assert set(a.selected(a.lambda_1se)) <= set(a.selected(a.lambda_min))
    assert {"x0", "x1", "x2"} & set(a.selected(a.lambda_min))
    assert a.selected(a.lambdas[0]) == []


def test_errors():
    X, y = _data(1, 30, 4, 2)
    with pytest.raises(ValueError, match="single class"):
        L.cv_lasso(X, np.array(["a"] * 30))
    with pytest.raises(ValueError, match="constant"):
        L.cv_lasso(X.assign(x1=1.0), y, nfolds=3)


def test_cli_lasso(tmp_path, capsys):
    from vfrepro.stats.cli import main
    X, y = _data(3, 120, 5, 3)
    X.assign(grade=y).to_csv(tmp_path / "l.csv", index=False)
    assert main(["lasso", "--csv", str(tmp_path / "l.csv"), "--outcome", "grade", "--features-prefix", "x",
                 "--nfolds", "4", "--n-lambda", "15", "--seed", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["family"] == "multinomial" and len(out["path"]["lambda"]) == 15
    ref = L.cv_lasso(X, y, nfolds=4, seed=1, n_lambda=15)
    # CSV text round-trip of X moves the path in the last digit.
    assert out["lambda_min"] == pytest.approx(ref.lambda_min, rel=1e-9) and out["selected_min"] == ref.selected(ref.lambda_min)
