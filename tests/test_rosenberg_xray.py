"""rosenberg_xray branch logic on tiny fake data: splits, Figure 4 layout, DeLong, CAMs, CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from vfrepro.cli import main
from vfrepro.errors import InputError
from vfrepro.studies import rosenberg_xray as rx

from test_deep_engine import fake_rows

torch.set_num_threads(1)


def fake_predictions(n=40, seed=0, noise=1.0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    s = 1 / (1 + np.exp(-(2 * y - 1 + noise * rng.normal(size=n))))
    return pd.DataFrame({"case_id": [f"c{i:010x}" for i in range(n)], "level": "L1", "site": "s1",
                         "split": "internal", "dataset": "test", "truth": y.astype(str),
                         "prob_0": 1 - s, "prob_1": s, "pred": (s > 0.5).astype(int).astype(str)})


def test_prepare_splits_and_errors(tmp_path):
    rows = fake_rows(tmp_path, n_patients=6)
    rows.loc[rows.case_id.isin(rows.case_id.unique()[:2]), "split"] = "internal"
    tr, ev = rx.prepare(rows, {})
    assert set(tr.split) == {"train"} and set(ev.split) == {"internal"} and set(ev.dataset) == {"test"}
    assert set(tr.case_id).isdisjoint(ev.case_id)
    with pytest.raises(InputError, match="needs column"):
        rx.prepare(rows.drop(columns=["lat_y1"]), {})
    one_class = rows.copy()
    one_class.loc[one_class.split == "internal", "fracture"] = 0
    with pytest.raises(InputError, match="both fracture classes"):
        rx.prepare(one_class, {})


def test_metrics_and_figure4_layout():
    p = fake_predictions()
    m = rx.binary_metrics(p)
    y, yh = p.truth.astype(int), p.pred.astype(int)
    assert m["TP"] == int(((y == 1) & (yh == 1)).sum()) and m["TN"] + m["FP"] + m["FN"] + m["TP"] == 40
    assert m["auc_ci_low"] <= m["auc"] <= m["auc_ci_high"]
    t = rx.figure4_table({"resnet18": m, "vgg16": rx.binary_metrics(fake_predictions(seed=1))})
    assert list(t.columns[:6]) == ["model", "quantity", "published", "published_pct", "reproduced",
                                   "reproduced_pct"]
    r = t.set_index(["model", "quantity"])
    assert r.loc[("resnet18", "TN"), "published"] == 25 and r.loc[("vgg16", "FP"), "published"] == 5
    assert r.loc[("resnet18", "TN"), "published_pct"] == 48.1
    assert r.loc[("resnet18", "auc"), "published"] == 0.88
    assert r.loc[("resnet18", "TP"), "reproduced"] == m["TP"]
    assert r.loc[("resnet18", "auc"), "reproduced"] == round(m["auc"], 3)


def _evaluate(tmp_path, out):
    return main(["rosenberg_xray", "evaluate", "--archs", "resnet18", "vgg16", "--predictions",
                 str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--out", str(tmp_path / out)])


def test_evaluate_writes_tables_delong_and_figures(tmp_path, capsys):
    a, b = fake_predictions(noise=0.3), fake_predictions(noise=3.0)
    b[["truth", "case_id", "level"]] = a[["truth", "case_id", "level"]]
    a.to_csv(tmp_path / "a.csv", index=False)
    b.to_csv(tmp_path / "b.csv", index=False)
    assert _evaluate(tmp_path, "out") == 0
    d = json.loads((tmp_path / "out" / "delong.json").read_text())
    assert d["auc_a"] > d["auc_b"] and 0 <= d["p"] <= 1
    m = pd.read_csv(tmp_path / "out" / "metrics.csv").set_index("model")
    assert m.at["resnet18", "auc"] == pytest.approx(d["auc_a"])
    for f in ("metrics.csv", "figure4_table.csv", "roc.png", "confusion_matrices.png"):
        assert (tmp_path / "out" / f).stat().st_size > 0
    # The library call returns the same numbers and writes nothing.
    res = rx.evaluate({"resnet18": a, "vgg16": b})
    assert res["delong"]["auc_a"] == pytest.approx(d["auc_a"]) and not (tmp_path / "metrics.csv").exists()
    b.loc[0, "case_id"] = "cffffffffff"
    b.to_csv(tmp_path / "b.csv", index=False)
    assert _evaluate(tmp_path, "out2") == 2
    assert "same test cases" in capsys.readouterr().err
    with pytest.raises(InputError, match="same test cases"):
        rx.evaluate({"resnet18": a, "vgg16": b})
    # A bad predictions file is named by row and column.
    a.loc[3, "prob_1"] = 1.7
    a.to_csv(tmp_path / "a.csv", index=False)
    assert _evaluate(tmp_path, "out3") == 2
    assert "row 3" in capsys.readouterr().err


def test_train_cli_then_cam(tmp_path):
    rows = fake_rows(tmp_path, n_patients=6)
    rows.loc[rows.case_id.isin(rows.case_id.unique()[:2]), "split"] = "internal"
    rows.to_csv(tmp_path / "manifest.csv", index=False)
    (tmp_path / "passed.txt").write_text("\n".join(rows.case_id.unique()[:6]) + "\n")
    cfg = {"seed": 1, "input_size": 32, "train": {"epochs": 1, "batch_size": 8},
           "cv": {"folds": 2, "grid": {"lr": [1e-3, 1e-4]}}}
    out = tmp_path / "rx" / "resnet18"
    rc = main(["rosenberg_xray", "train", "--arch", "resnet18", "--manifest",
               str(tmp_path / "manifest.csv"), "--cases", str(tmp_path / "passed.txt"),
               "--config-json", json.dumps(cfg), "--out", str(out), "--no-progress"])
    assert rc == 0
    info = json.loads((out / "train_info.json").read_text())
    assert info["init"].startswith("random") and info["n_train"] == 8 and info["n_eval"] == 4
    assert info["best_setting"]["lr"] in (1e-3, 1e-4)
    pred = pd.read_csv(out / "predictions.csv")
    assert set(pred.dataset) == {"test"} and len(pred) == 4
    assert "patient_id" not in pred.columns
    assert len(pd.read_csv(out / "cv_summary.csv")) == 2 and len(pd.read_csv(out / "epoch_log.csv")) == 1
    rc = main(["rosenberg_xray", "cam", "--model", str(out / "model.pt"), "--predictions", str(out / "predictions.csv"),
               "--manifest", str(tmp_path / "manifest.csv"), "--out-png", str(tmp_path / "cam.png"),
               "--out-csv", str(tmp_path / "cam.csv"), "--per-group", "2"])
    assert rc == 0 and (tmp_path / "cam.png").stat().st_size > 0
    cam = pd.read_csv(tmp_path / "cam.csv")
    assert set(cam.group) <= {"TP", "TN", "FP", "FN"} and len(cam) <= 8
    # Bad config -> clear error, exit code 2.
    assert main(["rosenberg_xray", "train", "--arch", "resnet18", "--manifest",
                 str(tmp_path / "manifest.csv"), "--config-json", "{not json", "--out", str(out)]) == 2
