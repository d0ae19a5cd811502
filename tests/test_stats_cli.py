"""`vfrepro stats` input checks: positive label stated, no guessing on string labels,
confidence level in (0, 1), constant scores warned, patient groups."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from vfrepro.stats import roc
from vfrepro.stats.cli import main as stats_main


@pytest.fixture()
def csv(tmp_path):
    rng = np.random.default_rng(0)
    y = np.tile([0, 1], 40)
    df = pd.DataFrame({"y01": y, "label": np.where(y == 1, "fracture", "none"), "s": rng.normal(size=80) + y,
                       "flat": 0.3, "pid": np.repeat(np.arange(20), 4)})
    path = tmp_path / "pred.csv"
    df.to_csv(path, index=False)
    return str(path), df


def _run(argv, capsys):
    assert stats_main(argv) == 0
    cap = capsys.readouterr()
    return json.loads(cap.out), cap.err


def test_positive_label_is_stated(csv, capsys):
    path, df = csv
    out, _ = _run(["auc", "--csv", path, "--truth", "y01", "--score", "s"], capsys)
    assert out["positive"] == "1" and out["auc"] == pytest.approx(roc.auc(df["y01"], df["s"]))
    out, _ = _run(["auc", "--csv", path, "--truth", "label", "--score", "s", "--positive", "fracture"], capsys)
    assert out["positive"] == "fracture" and out["n_pos"] == 40
    out, _ = _run(["delong", "--csv", path, "--truth", "label", "--score-a", "s", "--score-b", "s",
                   "--positive", "none"], capsys)
    assert out["positive"] == "none" and out["auc_a"] == pytest.approx(1 - roc.auc(df["y01"], df["s"]))


def test_string_labels_without_positive_refused(csv):
    path, _ = csv
    for cmd in (["auc", "--score", "s"], ["delong", "--score-a", "s", "--score-b", "s"]):
        with pytest.raises(SystemExit, match=r"labels fracture, none, not 0/1: pass --positive"):
            stats_main([cmd[0], "--csv", path, "--truth", "label", *cmd[1:]])


@pytest.mark.parametrize("level", ["95", "0", "1", "-0.5", "abc"])
def test_conf_level_outside_unit_interval_refused(csv, capsys, level):
    path, _ = csv
    with pytest.raises(SystemExit) as e:
        stats_main(["auc", "--csv", path, "--truth", "y01", "--score", "s", "--conf-level", level])
    assert e.value.code == 2  # argparse usage error
    err = capsys.readouterr().err
    assert "--conf-level" in err and ("strictly between 0 and 1" in err or "not a number" in err)
    if level == "95":
        assert "did you mean 0.95" in err


def test_constant_scores_warn(csv, capsys):
    path, _ = csv
    out, err = _run(["auc", "--csv", path, "--truth", "y01", "--score", "flat"], capsys)
    assert out["auc"] == 0.5 and "constant" in err and out["warnings"]
    out, err = _run(["auc", "--csv", path, "--truth", "y01", "--score", "s"], capsys)
    assert "warnings" not in out and err == ""


def test_groups_give_cluster_bootstrap(csv, capsys):
    path, df = csv
    out, _ = _run(["auc", "--csv", path, "--truth", "y01", "--score", "s", "--groups", "pid",
                   "--n-boot", "500", "--seed", "2"], capsys)
    ref = roc.cluster_bootstrap_auc_ci(df["y01"], df["s"], df["pid"].astype(str), 500, 2)
    assert out["method"] == "cluster bootstrap" and out["n_groups"] == 20
    assert (out["ci_low"], out["ci_high"]) == (ref.ci_low, ref.ci_high)
