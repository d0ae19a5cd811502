"""Reproduction verdicts (vfrepro.evaluate.verdict), `vfrepro tables` from predictions alone
(round trip against each study's own evaluate stage, bad predictions), the reviewer summary,
and the docs' published numbers against the package data."""

from __future__ import annotations

import json
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
    # the paper's overall precision is support-weighted: no CI, so no verdict (per class it has one)
    assert (t.loc[(t["quantity"] == "precision") & (t["column"] == "overall"), "verdict"] == "not evaluable").all()


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
                 "--roc-imagenet", str(st / "roc_imagenet.png"),
                 "--macro-comparison", str(st / "macro_auc_comparison.csv")]) == 0
    m = pd.read_csv(st / "metrics.csv")
    m["class"] = m["class"].astype(str)
    E.table3(m, {})[0].to_csv(st / "table3.csv", index=False, float_format="%.8g")
    assert main(["tables", "liu2025_dlr", "--predictions", *(f"{b}={p}" for b, p in ex.items()), "--cfg", cfg,
                 "--out", str(tmp_path / "tables")]) == 0
    _same_files(st, tmp_path / "tables", ["metrics.csv", "delong.csv", "macro_auc_comparison.csv", "table3.csv"])


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


def test_tables_refuses_a_study_that_needs_more_than_predictions(tmp_path, capsys, monkeypatch):
    import vfrepro.evaluate.reproduction_cli as RC
    monkeypatch.setattr(RC, "tables_module", lambda study: None)  # a study without the hooks
    assert main(["tables", "qu2025_mil", "--predictions", str(EX / "xu2023_vcf_predictions.csv"),
                 "--out", str(tmp_path)]) == 2
    assert "more than predictions" in capsys.readouterr().err


def test_tables_refuses_an_option_the_study_does_not_take(tmp_path, capsys):
    assert main(["tables", "xu2023_vcf", "--predictions", str(EX / "xu2023_vcf_predictions.csv"),
                 "--bag-table", "bags.csv", "--out", str(tmp_path / "o")]) == 2
    assert "--bag-table is not an input" in capsys.readouterr().err


QU = {v: EX / f"qu2025_mil_{v}_predictions.csv" for v in ("S", "Z")}
QU_TABLES = ["accuracy.csv", "per_class.csv", "confusion.csv", "predictions_ensemble.csv"]


def _qu_extras(tmp_path):
    """Small fabricated slices.csv (S, Z), bags.csv and train_info.json (S, Z) for the example
    predictions: the evaluate stage's other inputs."""
    rng = np.random.default_rng(0)
    files = {}
    pred = pd.read_csv(QU["S"], dtype={"case_id": str})
    for view in ("S", "Z"):
        p = pd.read_csv(QU[view], dtype={"case_id": str})
        rows = [{"case_id": r.case_id, "mask_label": r.mask_label, "view": view, "bag_label": r.truth, "slice": k,
                 "plane_index": 100 + 2 * k, "instance_label": int(r.truth != "AZ" and k in (1, 2, 3)),
                 "attention": round(float(rng.random()), 6), "instance_score": round(float(rng.random()), 6)}
                for r in p.itertuples() for k in range(5)]
        files[f"slices_{view}"] = tmp_path / f"slices_{view}.csv"
        pd.DataFrame(rows).to_csv(files[f"slices_{view}"], index=False)
        files[f"info_{view}"] = tmp_path / f"info_{view}.json"
        files[f"info_{view}"].write_text(json.dumps({"view": view, "init": "random (seed 0)", "n_train": 24,
                                                    "epochs_run": 2, "seconds": 1.0, "device": "cpu"}))
    z = pd.read_csv(QU["Z"])
    bags = pred[["case_id", "patient", "mask_label", "level", "ao_type", "split", "site"]].assign(
        S_label=pred["truth"], Z_label=z["truth"], has_instance_labels=True)
    train = bags.assign(case_id=["t" + c for c in bags["case_id"]], patient=["t" + c for c in bags["patient"]],
                        split="train")
    files["bags"] = tmp_path / "bags.csv"
    pd.concat([train, bags], ignore_index=True).to_csv(files["bags"], index=False)
    return files


def test_round_trip_qu2025_mil(tmp_path, monkeypatch, capsys):
    f = _qu_extras(tmp_path)
    cfg = '{"seed": 0, "evaluate": {"n_boot": 20}}'
    assert main(["qu2025_mil", "evaluate", "--predictions", str(QU["S"]), str(QU["Z"]),
                 "--slices", str(f["slices_S"]), str(f["slices_Z"]), "--infos", str(f["info_S"]), str(f["info_Z"]),
                 "--bag-table", str(f["bags"]), "--cfg", cfg, "--out", str(tmp_path / "stage")]) == 0
    assert main(["tables", "qu2025_mil", "--predictions", *(f"{v}={p}" for v, p in QU.items()),
                 "--slices", f"S={f['slices_S']}", f"Z={f['slices_Z']}", "--infos", f"S={f['info_S']}",
                 f"Z={f['info_Z']}", "--bag-table", str(f["bags"]), "--cfg", cfg, "--out", str(tmp_path / "tables")]) == 0
    _same_files(tmp_path / "stage", tmp_path / "tables",
                QU_TABLES + ["instance_auc.csv", "attention.csv", "label_distribution.csv", "chosen.csv", "summary.md"])
    # a patient has 3 vertebrae here: the accuracy CI resamples patients, Wilson beside it
    acc = pd.read_csv(tmp_path / "stage/accuracy.csv")
    assert acc["ci_method"].str.startswith("cluster bootstrap over 16 patients").all()
    assert ((acc["ci_high"] - acc["ci_low"]) > 0).all() and acc["wilson_ci_low"].notna().all()
    iauc = pd.read_csv(tmp_path / "stage/instance_auc.csv")
    assert iauc["ci_method"].dropna().str.startswith("cluster bootstrap").all()
    capsys.readouterr()
    # predictions alone: the bag-level tables, the rest skipped with a line naming the option
    assert main(["tables", "qu2025_mil", "--predictions", *(f"{v}={p}" for v, p in QU.items()), "--cfg", cfg,
                 "--out", str(tmp_path / "alone")]) == 0
    _same_files(tmp_path / "stage", tmp_path / "alone", QU_TABLES)
    text = capsys.readouterr().out
    assert "--slices S=FILE Z=FILE" in text and "--bag-table FILE" in text and "--infos S=FILE Z=FILE" in text
    assert not (tmp_path / "alone/instance_auc.csv").exists() and not (tmp_path / "alone/label_distribution.csv").exists()
    t = pd.read_csv(tmp_path / "alone/reproduction.csv")
    assert len(t) == len(pub.load("qu2025_mil").records)
    acc = t[(t["quantity"] == "accuracy") & t["row"].isin(["S", "Z", "ensemble"])]
    assert len(acc) and (acc["verdict"] != "not evaluable").all()
    assert (tmp_path / "alone/reproduction_forest.png").is_file()


def test_qu2025_mil_tables_need_both_views_and_good_predictions(tmp_path, capsys):
    assert main(["tables", "qu2025_mil", "--predictions", f"S={QU['S']}", "--out", str(tmp_path / "o")]) == 2
    assert "both views" in capsys.readouterr().err
    df = pd.read_csv(QU["Z"], dtype=str)
    df.loc[4, "truth"] = "A9"
    bad = tmp_path / "bad.csv"
    df.to_csv(bad, index=False)
    assert main(["tables", "qu2025_mil", "--predictions", f"S={QU['S']}", f"Z={bad}", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "truth" in err and "row 4 (line 6)" in err, err
    assert not (tmp_path / "o" / "accuracy.csv").exists()


WANG = EX / "wang2024_twostage_predictions.csv"


def test_round_trip_wang2024_twostage(tmp_path, capsys):
    cfg = '{"seed": 0, "n_boot": 20, "threshold": 0.5}'
    assert main(["wang2024_twostage", "evaluate", "--predictions", str(WANG), "--cfg", cfg,
                 "--out", str(tmp_path / "stage")]) == 0
    capsys.readouterr()
    assert main(["tables", "wang2024_twostage", "--predictions", f"paper={WANG}", "--cfg", cfg,
                 "--out", str(tmp_path / "tables")]) == 0
    _same_files(tmp_path / "stage", tmp_path / "tables", ["table3.csv", "table3_automatic.csv", "table3.md", "chosen.csv"])
    t3 = pd.read_csv(tmp_path / "stage/table3.csv")
    assert t3["ci_method"].str.startswith("cluster bootstrap over").all()
    assert set(t3["auc_ci_method"].dropna()) == {"cluster bootstrap"}
    text = capsys.readouterr().out
    assert "skipped Tables 1-2 and the detection tables" in text and "--slices slices.npz --detections" in text
    for png in ("roc_curves.png", "confusion_test.png", "confusion_training.png", "confusion_alternative_hospital.png"):
        assert (tmp_path / "tables" / png).stat().st_size > 1000, png
    t = pd.read_csv(tmp_path / "tables/reproduction.csv", keep_default_na=False, na_values=[""])
    assert len(t) == len(pub.load("wang2024_twostage").records)
    t3 = t[t["source"].str.contains("Table 3")]
    assert len(t3) and (t3["reason"] != "not produced by this run").any()
    assert (t[t["source"].str.contains("Table 1")]["verdict"] == "not evaluable").all()
    assert (tmp_path / "tables/reproduction_forest.png").is_file()


def test_wang2024_twostage_tables_bad_predictions(tmp_path, capsys):
    df = pd.read_csv(WANG, dtype=str)
    df.loc[6, "truth_kd"] = "2"
    bad = tmp_path / "bad.csv"
    df.to_csv(bad, index=False)
    assert main(["tables", "wang2024_twostage", "--predictions", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "truth_kd" in err and "row 6 (line 8)" in err, err
    assert not (tmp_path / "o" / "table3.csv").exists()


def test_the_summary_states_the_cohort_and_links(tmp_path):
    res = tmp_path / "results"
    V.reproduce("rosenberg_xray", None, res / "rosenberg_xray/reproduction.csv",
                res / "rosenberg_xray/reproduction_forest.png")
    text = report(["rosenberg_xray"], "synthetic", res / "reproduction_report.md", res)
    n = len(pub.load("rosenberg_xray").records)
    assert SYNTHETIC_WARNING in text and f"| rosenberg_xray | 0 | 0 | {n} | {n} |" in text
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
