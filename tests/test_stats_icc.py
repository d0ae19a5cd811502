"""ICC: six Shrout-Fleiss forms against psych::ICC(lmer = FALSE) (oracle), plus CLI and errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from vfrepro.stats import icc as I

try:
    from oracle.rbridge import read_out, run_r
except ImportError:
    from tests.oracle.rbridge import read_out, run_r


def _ratings(seed, n, k, rater_bias=0.5, noise=0.7, ties=False):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, 1)) + rng.normal(0, rater_bias, (1, k)) + rng.normal(0, noise, (n, k))
    return np.round(x) if ties else x  # ties: integer (Likert-like) ratings


def _long(x, ds=0):
    n, k = x.shape
    t, r = np.meshgrid(np.arange(n), np.arange(k), indexing="ij")
    return pd.DataFrame({"ds": ds, "target": t.ravel(), "rater": [f"r{j}" for j in r.ravel()],
                         "score": x.ravel()})


DATASETS = [(1, 5, 2, 0.5, 0.7, False), (2, 30, 3, 0.2, 1.0, False), (3, 12, 4, 1.0, 0.3, True),
            (4, 100, 2, 0.0, 2.0, False), (5, 8, 6, 0.3, 1.5, True), (6, 3, 2, 0.1, 0.1, False)]


@pytest.fixture(scope="module")
def psych_results(tmp_path_factory):
    data = pd.concat([_long(_ratings(*d), k) for k, d in enumerate(DATASETS)], ignore_index=True)
    wd = run_r("icc.R", tmp_path_factory.mktemp("icc"), packages=("psych",), icc_in=data)
    return read_out(wd)


@pytest.mark.oracle
@pytest.mark.parametrize("k", range(len(DATASETS)))
def test_icc_matches_psych(psych_results, k):
    ours = I.icc_all(_ratings(*DATASETS[k]))
    ref = psych_results[psych_results.ds == k].set_index("form")
    assert list(ref.index) == list(I.FORMS)
    for form in I.FORMS:
        for key in ("icc", "F", "df1", "df2", "p", "ci_low", "ci_high"):
            assert ours[form][key] == pytest.approx(ref.loc[form, key], rel=1e-6, abs=1e-12), (form, key)


def test_icc_textbook_example():
    # Shrout & Fleiss (1979) Table 2: 6 targets x 4 judges.
    x = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])
    r = I.icc_all(x)
    got = [round(r[f]["icc"], 2) for f in I.FORMS]
    assert got == [0.17, 0.29, 0.71, 0.44, 0.62, 0.91]


def test_icc_per_feature_and_errors():
    x1, x2 = _ratings(1, 20, 3), _ratings(2, 20, 3)
    df = _long(x1).rename(columns={"score": "vol"}).assign(hu=_long(x2)["score"])
    tab = I.icc_per_feature(df, "target", "rater", ["vol", "hu"], form="ICC3")
    assert tab.loc["vol", "icc"] == pytest.approx(I.icc(x1, "ICC3")["icc"])
    assert tab.loc["hu", "ci_high"] == pytest.approx(I.icc(x2, "ICC3")["ci_high"])
    with pytest.raises(ValueError, match="target 3 has no score from rater 'r1'"):
        I.long_to_wide(df.drop(index=df[(df.target == 3) & (df.rater == "r1")].index), "target", "rater", "vol")
    with pytest.raises(ValueError, match="unknown ICC form"):
        I.icc(x1, "ICC4")


def test_cli_icc(tmp_path, capsys):
    from vfrepro.stats.cli import main
    x = _ratings(3, 15, 3)
    _long(x).to_csv(tmp_path / "r.csv", index=False)
    assert main(["icc", "--csv", str(tmp_path / "r.csv"), "--target", "target", "--rater", "rater",
                 "--score", "score"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(I.FORMS) <= set(out) and out["n_raters"] == 3
    assert out["ICC2k"]["ci_low"] == pytest.approx(I.icc_all(x)["ICC2k"]["ci_low"])
