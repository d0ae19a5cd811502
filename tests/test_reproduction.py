"""Reproduction verdicts (vfrepro.evaluate.verdict), `vfrepro tables` from predictions alone
(round trip against each study's own evaluate stage, bad predictions), the reviewer summary,
and the docs' published numbers against the package data."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pandas as pd
import pytest

from tests.conftest import REPO
from vfrepro import registry
from vfrepro.cli import main
from vfrepro.evaluate import published as pub
from vfrepro.evaluate import verdict as V
from vfrepro.evaluate.reproduction_cli import SYNTHETIC_WARNING, has_reproduction, report, tables

EX = REPO / "docs/examples"
PUB = pub._parse("demo", """
citation: Demo 2025
records:
  - {study: demo, source: Table 1, row: m, column: test, quantity: auc, value: 0.5, ci_low: 0.4, ci_high: 0.6, note: ''}
  - {study: demo, source: Table 1, row: m, column: test, quantity: accuracy, value: 0.9, ci_low: null, ci_high: null, note: ''}
  - {study: demo, source: Table 1, row: m, column: test, quantity: sensitivity, value: 0.8, ci_low: null, ci_high: null, note: ''}
  - {study: demo, source: Table 1, row: m, column: test, quantity: TP, value: 21, ci_low: null, ci_high: null, note: ''}
  - {study: demo, source: Table 1, row: m, column: test, quantity: p, value: 0.03, ci_low: null, ci_high: null, note: ''}
  - {study: demo, source: Table 2, row: m class 2, column: test, quantity: accuracy, value: 0.2, ci_low: null, ci_high: null, note: ''}
  - {study: demo, source: Table 2, row: m, column: '', quantity: best_model, value: SVM, ci_low: null, ci_high: null, note: ''}
  - {study: demo, source: Table 2, row: other, column: test, quantity: auc, value: 0.7, ci_low: null, ci_high: null, note: ''}
""", "demo.yaml")


def _rep(auc=0.92):
    return pd.DataFrame([
        {"row": "m", "column": "test", "quantity": "auc", "value": auc, "ci_low": auc - 0.04, "ci_high": auc + 0.04},
        {"row": "m", "column": "test", "quantity": "accuracy", "value": 0.88, "n": 100},
        {"row": "m", "column": "test", "quantity": "sensitivity", "value": 0.85},
        {"row": "m", "column": "test", "quantity": "TP", "value": 30},
        {"row": "m", "column": "test", "quantity": "p", "value": 0.2},
        {"row": "m class 2", "column": "test", "quantity": "accuracy", "value": np.nan, "reason": "class absent"},
        {"row": "m", "column": "", "quantity": "best_model", "value": "SVM"},
    ])


def test_a_planted_inconsistency_is_flagged():
    # published AUC 0.5 far outside the reproduced 0.92 (0.88-0.96)
    t = V.verdicts("demo", _rep(0.92), PUB).set_index(["row", "column", "quantity"])
    r = t.loc[("m", "test", "auc")]
    assert r["verdict"] == "inconsistent"
    assert r["difference"] == pytest.approx(0.42)
    assert V.verdicts("demo", _rep(0.52), PUB).iloc[0]["verdict"] == "consistent"


def test_the_rules_for_numbers_without_a_ci():
    t = V.verdicts("demo", _rep(), PUB).set_index(["row", "column", "quantity"])
    acc = t.loc[("m", "test", "accuracy")]
    lo, hi = V.wilson(0.88, 100)
    assert acc["verdict"] == "consistent" and acc["reproduced_ci_low"] == pytest.approx(lo)
    assert acc["ci_method"].startswith("Wilson") and lo < 0.9 < hi
    assert t.loc[("m", "test", "sensitivity"), "verdict"] == "not evaluable"   # no CI, no n
    assert "count" in t.loc[("m", "test", "TP"), "reason"]
    assert "p-value" in t.loc[("m", "test", "p"), "reason"]
    assert t.loc[("m class 2", "test", "accuracy"), "reason"] == "class absent"
    assert "the same" in t.loc[("m", "", "best_model"), "reason"]
    assert t.loc[("other", "test", "auc"), "reason"] == "not produced by this run"
    assert len(t) == len(PUB.records) and set(t["verdict"]) <= set(V.VERDICTS)


def test_forest_plot_and_csv(tmp_path):
    t = V.reproduce("rosenberg_xray", None, tmp_path / "r.csv", tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 1000
    assert (t["verdict"] == "not evaluable").all() and len(t) == len(pub.load("rosenberg_xray").records)


def test_only_studies_with_a_reproduction_stage_take_part():
    # a reproduction stage in the registry needs the study's reproduced_long (a study without
    # the stage, e.g. a branch still being built, is skipped by the workflow and the summary)
    for s in registry.built():
        if "reproduction" in registry.stages(s):
            assert has_reproduction(s), s
    for s in ("liu2025_dlr", "qu2025_mil", "rosenberg_xray", "xu2023_vcf"):
        assert "reproduction" in registry.stages(s) and has_reproduction(s)


def _same_files(a, b, names):
    for n in names:
        assert (a / n).read_bytes() == (b / n).read_bytes(), n


RX = [f"{a}=docs/examples/rosenberg_xray_{a}_predictions.csv" for a in ("resnet18", "vgg16")]


def test_round_trip_rosenberg_xray(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    paths = [p.split("=")[1] for p in RX]
    assert main(["rosenberg_xray", "evaluate", "--archs", "resnet18", "vgg16", "--predictions", *paths,
                 "--out", str(tmp_path / "stage")]) == 0
    assert main(["tables", "rosenberg_xray", "--predictions", *RX, "--out", str(tmp_path / "tables")]) == 0
    _same_files(tmp_path / "stage", tmp_path / "tables", ["metrics.csv", "figure4_table.csv", "delong.json"])
    t = pd.read_csv(tmp_path / "tables/reproduction.csv")
    assert len(t) == len(pub.load("rosenberg_xray").records)
    assert (tmp_path / "tables" / "reproduction_forest.png").is_file()


def test_round_trip_xu2023_vcf(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    ex = "docs/examples/xu2023_vcf_predictions.csv"
    assert main(["xu2023_vcf", "evaluate", "--predictions", ex, "--n-boot", "20", "--out", str(tmp_path / "stage")]) == 0
    assert main(["tables", "xu2023_vcf", "--predictions", ex, "--cfg", '{"n_boot": 20}',
                 "--out", str(tmp_path / "tables")]) == 0
    _same_files(tmp_path / "stage", tmp_path / "tables", ["table2.csv", "table2.md"])
    t = pd.read_csv(tmp_path / "tables/reproduction.csv")
    assert {"consistent", "inconsistent", "not evaluable"} >= set(t["verdict"])
    assert (t.loc[t["quantity"] == "precision", "verdict"] == "not evaluable").all()


def test_round_trip_liu2025_dlr(tmp_path, monkeypatch):
    from vfrepro.studies.liu2025_dlr import evaluation as E
    monkeypatch.chdir(REPO)
    ex = {b: f"docs/examples/liu2025_dlr_{b}_predictions.csv" for b in ("radimagenet", "imagenet")}
    cfg = '{"seed": 0, "evaluate": {"n_boot": 20}}'
    st = tmp_path / "stage"
    st.mkdir()
    assert main(["liu2025_dlr", "evaluate", "--cfg", cfg, "--pred-radimagenet", ex["radimagenet"],
                 "--pred-imagenet", ex["imagenet"], "--metrics", str(st / "metrics.csv"),
                 "--delong", str(st / "delong.csv"), "--roc-radimagenet", str(st / "roc_radimagenet.png"),
                 "--roc-imagenet", str(st / "roc_imagenet.png")]) == 0
    m = pd.read_csv(st / "metrics.csv")
    m["class"] = m["class"].astype(str)
    E.table3(m, {})[0].to_csv(st / "table3.csv", index=False, float_format="%.8g")
    assert main(["tables", "liu2025_dlr", "--predictions", *(f"{b}={p}" for b, p in ex.items()), "--cfg", cfg,
                 "--out", str(tmp_path / "tables")]) == 0
    _same_files(st, tmp_path / "tables", ["metrics.csv", "delong.csv", "table3.csv"])


def _broken(tmp_path, edit):
    df = pd.read_csv(EX / "xu2023_vcf_predictions.csv", dtype=str)
    edit(df)
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("edit, column, row", [
    (lambda d: d.drop(columns=["prob_chronic"], inplace=True), "prob_chronic", None),
    (lambda d: d.__setitem__("truth", d["truth"].where(d.index != 3, "burst")), "truth", 3),
    (lambda d: d.__setitem__("prob_acute", d["prob_acute"].where(d.index != 5, "1.5")), "prob_acute", 5),
    (lambda d: d.__setitem__("prob_acute", d["prob_acute"].where(d.index != 7, "")), "prob_acute", 7),
    (lambda d: d.__setitem__("prob_acute", d["prob_acute"].where(d.index != 9, "0")), "prob_acute", 9),
    (lambda d: d.__setitem__("case_id", d["case_id"].where(d.index != 70, d["case_id"].iloc[2])), "split", 70),
], ids=["missing column", "unknown class", "outside [0,1]", "NaN", "not summing to 1", "patient in two splits"])
def test_bad_predictions_name_row_and_column(tmp_path, capsys, edit, column, row):
    path = _broken(tmp_path, edit)
    if row == 9:  # make sure row 9 no longer sums to 1 (its acute probability was not 0)
        assert float(pd.read_csv(EX / "xu2023_vcf_predictions.csv")["prob_acute"].iloc[9]) > 1e-3
    assert main(["tables", "xu2023_vcf", "--predictions", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert column in err, err
    if row is not None:
        assert f"row {row} (line {row + 2})" in err, err
    assert not (tmp_path / "o" / "table2.csv").exists()


def test_tables_refuses_a_study_that_needs_more_than_predictions(tmp_path, capsys):
    assert main(["tables", "qu2025_mil", "--predictions", str(EX / "xu2023_vcf_predictions.csv"),
                 "--out", str(tmp_path)]) == 2
    assert "more than predictions" in capsys.readouterr().err


def test_the_summary_states_the_cohort_and_links(tmp_path):
    res = tmp_path / "results"
    V.reproduce("rosenberg_xray", None, res / "rosenberg_xray/reproduction.csv",
                res / "rosenberg_xray/reproduction_forest.png")
    text = report(["rosenberg_xray"], "synthetic", res / "reproduction_report.md", res)
    assert SYNTHETIC_WARNING in text and "| rosenberg_xray | 0 | 0 | 16 | 16 |" in text
    assert "(rosenberg_xray/reproduction_forest.png)" in text and "(rosenberg_xray/figure4_table.csv)" in text
    assert "SYNTHETIC" not in report(["rosenberg_xray"], "manifest", res / "r2.md", res)


def test_readme_and_docs_link_nothing_outside_the_repository():
    for path in [REPO / "README.md", *(REPO / "docs").rglob("*.md")]:
        for target in re.findall(r"\]\(([^)#]+)", path.read_text()):
            if "://" in target:
                continue
            assert (path.parent / target).resolve().is_relative_to(REPO.resolve()), (path, target)
    assert "../shared" not in (REPO / "README.md").read_text()


def test_docs_published_numbers_agree_with_the_package_data():
    for s in registry.studies():
        doc = REPO / "docs/studies" / f"{s.name}.md"
        if not doc.is_file() or not s.published:
            continue
        recs = pub.load(s.name).records
        values = {}
        for r in recs.to_dict("records"):
            values.setdefault(r["row"], set()).add(r["value"])
        for sentence in re.findall(r"Published: ([^.]*(?:\.\d[^.]*)*)\.", doc.read_text()):
            for name, pct in re.findall(r"(\w+) (\d+(?:\.\d+)?)%", sentence):
                if name in values:
                    assert any(isinstance(v, (int, float)) and abs(100 * v - float(pct)) < 0.051
                               for v in values[name]), (s.name, name, pct)
