"""Paired t-test and McNemar against base R (oracle), plus CLI and errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from vfrepro.stats.paired import mcnemar, paired_t

try:
    from oracle.rbridge import read_out, run_r
except ImportError:
    from tests.oracle.rbridge import read_out, run_r


def _data(seed, n, p_a, p_b):
    rng = np.random.default_rng(seed)
    a = rng.normal(3, 1, n)
    b = a + rng.normal(0.2, 0.5, n)
    u = rng.random(n)
    return a, b, (u < p_a).astype(int), (u < p_b).astype(int) ^ (rng.random(n) < 0.1)


# Sizes from tiny (exact test territory) to large; one case with b == c (symmetric table).
DATASETS = [(1, 8, 0.5, 0.7), (2, 40, 0.6, 0.8), (3, 300, 0.7, 0.72), (4, 15, 0.3, 0.9), (5, 1000, 0.5, 0.5)]


@pytest.fixture(scope="module")
def r_results(tmp_path_factory):
    frames = []
    for k, d in enumerate(DATASETS):
        a, b, ba, bb = _data(*d)
        frames.append(pd.DataFrame({"ds": k, "a": a, "b": b, "ba": ba, "bb": bb}))
    wd = run_r("paired.R", tmp_path_factory.mktemp("paired"), paired_in=pd.concat(frames, ignore_index=True))
    return read_out(wd).set_index("ds")


@pytest.mark.oracle
@pytest.mark.parametrize("k", range(len(DATASETS)))
def test_matches_r(r_results, k):
    a, b, ba, bb = _data(*DATASETS[k])
    r = r_results.loc[k]
    t = paired_t(a, b)
    np.testing.assert_allclose([t["t"], t["df"], t["p"], t["ci_low"], t["ci_high"]],
                               [r.t, r.df, r.p_t, r.lo, r.hi], rtol=1e-6)
    if not np.isnan(r.chi_c):
        c, u = mcnemar(ba, bb), mcnemar(ba, bb, correct=False)
        np.testing.assert_allclose([c["statistic"], c["p"], u["statistic"], u["p"]],
                                   [r.chi_c, r.p_c, r.chi_u, r.p_u], rtol=1e-6)
    assert mcnemar(ba, bb, exact=True)["p"] == pytest.approx(r.p_exact, rel=1e-6)


def test_mcnemar_symmetric_table_and_errors():
    a = np.array([1, 0, 1, 0, 1, 1])
    b = np.array([0, 1, 1, 0, 1, 1])  # b = c = 1: no Yates term, statistic 0
    assert mcnemar(a, b)["statistic"] == 0.0 and mcnemar(a, b)["p"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="must be 0/1"):
        mcnemar(np.array([0, 2]), np.array([0, 1]))
    with pytest.raises(ValueError, match="no discordant pairs"):
        mcnemar(a, a)
    assert mcnemar(a, a, exact=True)["p"] == 1.0
    with pytest.raises(ValueError, match="equal length"):
        paired_t([1.0, 2.0], [1.0])


def test_cli_paired(tmp_path, capsys):
    from vfrepro.stats.cli import main
    a, b, ba, bb = _data(2, 40, 0.6, 0.8)
    pd.DataFrame({"r1": a, "r2": b, "c1": ba, "c2": bb}).to_csv(tmp_path / "p.csv", index=False)
    assert main(["paired-t", "--csv", str(tmp_path / "p.csv"), "--a", "r1", "--b", "r2"]) == 0
    assert json.loads(capsys.readouterr().out)["t"] == pytest.approx(paired_t(a, b)["t"])
    assert main(["mcnemar", "--csv", str(tmp_path / "p.csv"), "--a", "c1", "--b", "c2", "--exact"]) == 0
    assert json.loads(capsys.readouterr().out)["p"] == pytest.approx(mcnemar(ba, bb, exact=True)["p"])
