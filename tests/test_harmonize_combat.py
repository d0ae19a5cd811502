"""ComBat: fitted rows against sva::ComBat (oracle), apply step, refusals, save/load, CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from vfrepro.harmonize.combat import ComBat

try:
    from oracle.rbridge import read_out, run_r
except ImportError:
    from tests.oracle.rbridge import read_out, run_r

CONFIGS = pd.DataFrame([
    {"name": "par", "par": True, "mean_only": False, "covars": ""},
    {"name": "par_cov", "par": True, "mean_only": False, "covars": "age + sex"},
    {"name": "nonpar_cov", "par": False, "mean_only": False, "covars": "age + sex"},
    {"name": "meanonly_cov", "par": True, "mean_only": True, "covars": "age + sex"},
    {"name": "nonpar_meanonly", "par": False, "mean_only": True, "covars": "age"},
])


def make_data(seed, sizes, p=6):
    """Rows with batch shifts/scales, an age effect and a sex effect on every feature."""
    rng = np.random.default_rng(seed)
    batch = np.repeat([f"site{j}" for j in range(len(sizes))], sizes)
    n = len(batch)
    age = rng.uniform(50, 90, n)
    sex = rng.choice(["F", "M"], n)
    bidx = np.searchsorted(np.unique(batch), batch)
    shift, scale = rng.normal(0, 1.5, (len(sizes), p)), rng.uniform(0.5, 2.0, (len(sizes), p))
    f = (10 + 0.05 * age[:, None] + 0.7 * (sex == "M")[:, None]
         + shift[bidx] + scale[bidx] * rng.normal(size=(n, p)))
    df = pd.DataFrame(f, columns=[f"f{j}" for j in range(p)])
    df.insert(0, "sex", sex)
    df.insert(0, "age", age)
    df.insert(0, "batch", batch)
    df.insert(0, "row", np.arange(n))
    return df


DATASETS = [(1, [10, 15, 12]), (2, [4, 30]), (3, [25, 20, 8, 3]), (4, [40, 35, 30])]


def _model(cfg):
    return ComBat(parametric=bool(cfg["par"]), mean_only=bool(cfg["mean_only"]))


def _covs(df, covars):
    cols = [c.strip() for c in covars.split("+") if c.strip()]
    return df[cols] if cols else None


@pytest.fixture(scope="module")
def sva_results(tmp_path_factory):
    data = pd.concat([make_data(s, sz).assign(ds=k) for k, (s, sz) in enumerate(DATASETS)], ignore_index=True)
    wd = run_r("combat.R", tmp_path_factory.mktemp("combat"), packages=("sva",),
               combat_in=data, configs=CONFIGS)
    return read_out(wd)


@pytest.mark.oracle
@pytest.mark.parametrize("k", range(len(DATASETS)))
@pytest.mark.parametrize("ci", range(len(CONFIGS)))
def test_fit_matches_sva_combat(sva_results, k, ci):
    cfg = CONFIGS.iloc[ci]
    df = make_data(*DATASETS[k])
    feats = [c for c in df.columns if c.startswith("f")]
    ours = _model(cfg).fit_transform(df[feats], df["batch"], _covs(df, cfg["covars"]))
    ref = sva_results[(sva_results.ds == k) & (sva_results.config == cfg["name"])].sort_values("row")
    assert len(ref) == len(df)
    np.testing.assert_allclose(ours.to_numpy(), ref[feats].to_numpy(), rtol=1e-6, atol=1e-9)
    # And it did something: the batch effect was real.
    assert np.abs(ours.to_numpy() - df[feats].to_numpy()).max() > 0.1


@pytest.mark.oracle
def test_apply_reproduces_fit_rows_and_is_rowwise(sva_results):
    # Fit on dataset 0; a copy of a fitted row, harmonised later amid new rows, gets sva's value.
    df = make_data(*DATASETS[0])
    feats = [c for c in df.columns if c.startswith("f")]
    m = ComBat().fit(df[feats], df["batch"], df[["age", "sex"]])
    new = make_data(99, [5, 5, 5])
    mix = pd.concat([new, df.iloc[[3, 20]]], ignore_index=True)
    out = m.transform(mix[feats], mix["batch"], mix[["age", "sex"]])
    ref = sva_results[(sva_results.ds == 0) & (sva_results.config == "par_cov")].set_index("row")
    np.testing.assert_allclose(out.iloc[-2:].to_numpy(), ref.loc[[3, 20], feats].to_numpy(), rtol=1e-6)
    alone = m.transform(new[feats].iloc[:1], new["batch"].iloc[:1], new[["age", "sex"]].iloc[:1])
    np.testing.assert_allclose(alone.to_numpy(), out.iloc[:1].to_numpy(), rtol=1e-12)


def test_new_rows_keep_their_own_covariate_effect():
    # Old neuroCombatFromTraining would give every new row the training-mean age effect;
    # here the age slope in harmonised new rows stays ~0.05 per year.
    df = make_data(5, [60, 60, 60], p=3)
    feats = ["f0", "f1", "f2"]
    m = ComBat().fit(df[feats], df["batch"], df[["age", "sex"]])
    new = make_data(6, [200, 200, 200], p=3)
    out = m.transform(new[feats], new["batch"], new[["age", "sex"]])
    slope = np.polyfit(new["age"], out["f0"] - 0.7 * (new["sex"] == "M"), 1)[0]
    assert slope == pytest.approx(0.05, abs=0.02)


def test_save_load_roundtrip(tmp_path):
    df = make_data(7, [12, 14])
    feats = [c for c in df.columns if c.startswith("f")]
    m = ComBat(parametric=False).fit(df[feats], df["batch"], df[["age", "sex"]])
    m.save(tmp_path / "cb.json")
    m2 = ComBat.load(tmp_path / "cb.json")
    a = m.transform(df[feats], df["batch"], df[["age", "sex"]])
    b = m2.transform(df[feats], df["batch"], df[["age", "sex"]])
    assert np.array_equal(a.to_numpy(), b.to_numpy())


def test_refusals_name_the_problem():
    df = make_data(8, [10, 10, 1])
    feats = [c for c in df.columns if c.startswith("f")]
    with pytest.raises(ValueError, match="batch 'site2' has a single row"):
        ComBat().fit(df[feats], df["batch"])
    df = make_data(8, [10, 10])
    m = ComBat().fit(df[feats], df["batch"], df[["age"]])
    with pytest.raises(ValueError, match="batch 'siteX' was not in the fitted rows"):
        m.transform(df[feats], df["batch"].replace("site1", "siteX"), df[["age"]])
    conf = df.assign(scanner=np.where(df["batch"] == "site0", "A", "B"))
    with pytest.raises(ValueError, match="covariate 'scanner' is confounded with batch"):
        ComBat().fit(df[feats], df["batch"], conf[["age", "scanner"]])
    with pytest.raises(ValueError, match="constant"):
        ComBat().fit(df[feats].assign(f0=1.0), df["batch"])
    with pytest.raises(ValueError, match="covariate 'sex' has level"):
        m2 = ComBat().fit(df[feats], df["batch"], df[["sex"]])
        m2.transform(df[feats], df["batch"], df[["sex"]].replace("M", "U"))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 30), p=st.integers(1, 5))
def test_single_batch_is_identity_and_idempotent(seed, n, p):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)) * rng.uniform(0.1, 10, p), columns=[f"f{j}" for j in range(p)])
    b = pd.Series(["only"] * n)
    once = ComBat().fit_transform(X, b)
    twice = ComBat().fit_transform(once, b)
    np.testing.assert_array_equal(once.to_numpy(), X.to_numpy())
    np.testing.assert_array_equal(twice.to_numpy(), once.to_numpy())


def test_cli_fit_where_keeps_columns(tmp_path, capsys):
    from vfrepro.harmonize.cli import main as hmain
    df = make_data(9, [20, 20, 20])
    df["split"] = np.where(np.arange(len(df)) % 4 == 0, "test", "train")
    df.to_csv(tmp_path / "in.csv", index=False)
    rc = hmain(["combat", "--csv", str(tmp_path / "in.csv"), "--batch", "batch", "--features-prefix", "f",
                "--covariates", "age,sex", "--fit-where", "split=train", "--out", str(tmp_path / "out.csv")])
    assert rc == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_fit"] == int((df.split == "train").sum()) and info["n_rows"] == len(df)
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns) == list(df.columns)
    assert out["split"].tolist() == df["split"].tolist()
    feats = [c for c in df.columns if c.startswith("f")]
    tr = df.split == "train"
    m = ComBat().fit(df.loc[tr, feats], df.loc[tr, "batch"], df.loc[tr, ["age", "sex"]])
    np.testing.assert_allclose(out[feats].to_numpy(),
                               m.transform(df[feats], df["batch"], df[["age", "sex"]]).to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("ci", range(len(CONFIGS)))
def test_new_batch_estimate_gives_back_a_fitted_batch(ci):
    """Estimating a batch from its own rows on the fitted scale is ComBat's per-batch step:
    for a batch that was fitted it returns that batch's fitted gamma*/delta* (sva-checked)."""
    cfg = CONFIGS.iloc[ci]
    df = make_data(1, [10, 15, 12])
    feats = [c for c in df.columns if c.startswith("f")]
    cov = _covs(df, cfg["covars"])
    m = _model(cfg).fit(df[feats], df["batch"], cov)
    for j, site in enumerate(m.batches_):
        rows = (df["batch"] == site).to_numpy()
        g, d = m.estimate_batch(df.loc[rows, feats], None if cov is None else cov.loc[rows])
        np.testing.assert_allclose(g, m.gamma_star_[j], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(d, m.delta_star_[j], rtol=1e-9, atol=1e-12)


def test_unseen_batch_estimated_passed_through_or_refused(tmp_path):
    df = make_data(9, [30, 30, 40], p=4)
    feats = [c for c in df.columns if c.startswith("f")]
    fit_rows = df["batch"] != "site2"
    m = ComBat().fit(df.loc[fit_rows, feats], df.loc[fit_rows, "batch"], df.loc[fit_rows, ["age", "sex"]])
    m.save(tmp_path / "before.json")
    new = df[~fit_rows]
    est = m.transform(new[feats], new["batch"], new[["age", "sex"]], new_batches="estimate")
    same = m.transform(new[feats], new["batch"], new[["age", "sex"]], new_batches="passthrough")
    m.save(tmp_path / "after.json")
    assert (tmp_path / "before.json").read_text() == (tmp_path / "after.json").read_text()
    assert np.array_equal(same.to_numpy(), new[feats].to_numpy())
    # The site's offset against the fitted sites (covariate effects removed) is gone after estimating.
    def offset(x, b):
        resid = x - 0.05 * b["age"].to_numpy()[:, None] - 0.7 * (b["sex"] == "M").to_numpy()[:, None]
        return np.abs(resid.mean(axis=0) - ref)
    train = m.transform(df.loc[fit_rows, feats], df.loc[fit_rows, "batch"], df.loc[fit_rows, ["age", "sex"]])
    tr = df[fit_rows]
    ref = (train.to_numpy() - 0.05 * tr["age"].to_numpy()[:, None] - 0.7 * (tr["sex"] == "M").to_numpy()[:, None]).mean(axis=0)
    raw_off, est_off = offset(new[feats].to_numpy(), new), offset(est.to_numpy(), new)
    assert raw_off.max() > 0.5 and est_off.max() < 0.25 * raw_off.max()
    with pytest.raises(ValueError, match="new_batches='estimate'"):
        m.transform(new[feats], new["batch"], new[["age", "sex"]])
