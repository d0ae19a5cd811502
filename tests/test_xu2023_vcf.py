"""xu2023_vcf branch logic on tiny fake data: datasets, Table 2 layout, reader study."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vfrepro.cli import main
from vfrepro.errors import InputError
from vfrepro.studies import xu2023_vcf as xu

CL = xu.CLASSES


def fake_table(n_patients=20, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        split, site = (("train", "site1") if p < 10 else ("internal", "site1") if p < 13 else
                       ("external", "site3") if p < 15 else ("external", "site4") if p < 17 else
                       ("prospective", "site1"))
        for v in range(3):
            rows.append({"case_id": f"c{p:010x}", "level": f"L{v + 1}", "site": site, "split": split,
                         "vcf_type": ["none", *CL][(p + v) % 4], "xray_lateral_path": "/x.png",
                         "lat_x0": 0, "lat_y0": 0, "lat_x1": 10, "lat_y1": 10})
    return pd.DataFrame(rows)


def fake_predictions(table, seed=0):
    _, ev = xu.prepare(table, {})
    rng = np.random.default_rng(seed)
    y = np.array([CL.index(v) for v in ev.vcf_type])
    logits = rng.normal(size=(len(y), 3)) + 2.0 * np.eye(3)[y]
    P = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    out = ev[["case_id", "level", "site", "split", "dataset"]].copy()
    out["truth"] = ev.vcf_type.to_numpy()
    for k, c in enumerate(CL):
        out[f"prob_{c}"] = P[:, k]
    out["pred"] = [CL[i] for i in P.argmax(1)]
    return out


def test_prepare_datasets_by_patient():
    t = fake_table()
    tr, ev = xu.prepare(t, {"dev_split": "manifest"})
    assert set(tr.split) == {"train"} and "none" not in set(tr.vcf_type)
    assert set(ev.dataset) == {"test", "external site3", "external site4", "prospective"}
    assert set(tr.case_id).isdisjoint(ev.case_id)
    tr2, ev2 = xu.prepare(t, {"dev_split": "random", "test_fraction": 0.25, "seed": 3})
    test_cases = set(ev2.loc[ev2.dataset == "test", "case_id"])
    assert test_cases.isdisjoint(tr2.case_id) and len(test_cases) == round(0.25 * 13)
    with pytest.raises(InputError, match="vcf_type"):
        xu.prepare(t.drop(columns=["vcf_type"]), {})


def test_table2_layout_published_beside_reproduced():
    t = fake_table(60)
    pred = fake_predictions(t)
    t2 = xu.table2(pred, n_boot=50, seed=0)
    assert list(t2.dataset.unique()) == ["test", "external site3", "external site4", "prospective"]
    assert list(t2[t2.dataset == "test"]["class"]) == ["overall", "macro", *CL]
    for m in xu.TABLE_METRICS:
        assert f"{m}_published" in t2 and f"{m}_reproduced" in t2
    r = t2.set_index(["dataset", "class"])
    assert r.loc[("test", "acute"), "auc_published"] == 0.874
    assert r.loc[("test", "overall"), "accuracy_published"] == 85.0
    assert r.loc[("external site3", "acute"), "published_dataset"] == "GZFPH"
    assert r.loc[("external site4", "chronic"), "published_dataset"] == "WHTH"
    assert r.loc[("prospective", "pathologic"), "npv_published"] == 97.0
    # Reproduced values are computed, not copied: they follow the predictions.
    test = pred[pred.dataset == "test"]
    acc_acute = ((test.truth == "acute") == (test.pred == "acute")).mean() * 100
    assert r.loc[("test", "acute"), "accuracy_reproduced"] == pytest.approx(acc_acute, abs=0.051)
    per_class = r[r.index.get_level_values("class").isin(CL)]
    assert (per_class["precision_reproduced"].fillna(-1) == per_class["ppv_reproduced"].fillna(-1)).all()
    # a dataset of 3 patients gets no CI (too few resampled units); 43 patients do
    assert r.loc[("test", "acute"), "auc_ci95_reproduced"] == ""
    lo, hi = map(float, r.loc[("prospective", "acute"), "auc_ci95_reproduced"].split("-"))
    assert lo <= r.loc[("prospective", "acute"), "auc_reproduced"] <= hi


def test_table2_with_a_missing_class_is_blank_not_an_error(tmp_path):
    pred = fake_predictions(fake_table())
    pred = pred[~((pred.dataset == "external site3") & (pred.truth == "pathologic"))]
    pred.to_csv(tmp_path / "p.csv", index=False)
    assert main(["xu2023_vcf", "evaluate", "--predictions", str(tmp_path / "p.csv"), "--out",
                 str(tmp_path / "out"), "--n-boot", "20", "--cohort", "synthetic"]) == 0
    t2 = pd.read_csv(tmp_path / "out" / "table2.csv")
    assert xu.table2(pred, n_boot=20).to_csv(index=False) == (tmp_path / "out" / "table2.csv").read_text()
    r = t2.set_index(["dataset", "class"])
    # Table 2 blanks the absent class and the dataset's overall AUC.
    assert r.loc[("external site3", "pathologic")].filter(like="_reproduced").isna().all()
    assert np.isnan(r.loc[("external site3", "overall"), "auc_reproduced"])
    assert np.isnan(r.loc[("external site3", "pathologic"), "auc_reproduced"])
    assert np.isfinite(r.loc[("external site3", "acute"), "auc_reproduced"])
    assert np.isnan(r.loc[("external site3", "macro"), "auc_reproduced"])
    for f in ("table2.csv", "table2.md", "roc_curves.png", "confusion_matrices.png", "chosen.csv"):
        assert (tmp_path / "out" / f).stat().st_size > 0
    assert "published beside reproduced" in (tmp_path / "out" / "table2.md").read_text()


def test_reader_study_skips_without_columns_and_runs_with_them(tmp_path, capsys):
    t = fake_table()
    pred = fake_predictions(t)
    pred.to_csv(tmp_path / "p.csv", index=False)
    t.to_csv(tmp_path / "m.csv", index=False)
    args = ["xu2023_vcf", "reader-study", "--manifest", str(tmp_path / "m.csv"), "--predictions",
            str(tmp_path / "p.csv"), "--out-csv", str(tmp_path / "r.csv"), "--out-md", str(tmp_path / "r.md"),
            "--n-boot", "10", "--out-png", str(tmp_path / "r.png")]
    assert main(args) == 0
    assert "skipped" in capsys.readouterr().out and "reader_<name>_alone" in (tmp_path / "r.md").read_text()
    assert pd.read_csv(tmp_path / "r.csv").empty
    rng = np.random.default_rng(1)
    t = t.merge(pred[["case_id", "level", "truth"]], on=["case_id", "level"], how="left")
    ext = t.split == "external"
    noisy = [CL[rng.integers(0, 3)] if rng.random() < 0.5 else v for v in t.truth.fillna("acute")]
    t["reader_trainee_alone"] = np.where(ext, noisy, None)
    t["reader_trainee_with_model"] = np.where(ext, t.truth, None)
    t = t.drop(columns=["truth"])
    t.to_csv(tmp_path / "m.csv", index=False)
    assert main(args) == 0
    r = pd.read_csv(tmp_path / "r.csv").set_index(["reader", "condition"])
    assert r.loc[("trainee", "with_model"), "top1_accuracy"] == 100.0
    assert r.loc[("trainee", "alone"), "top1_accuracy"] < 100.0
    assert 0 <= r.loc[("trainee", "with_model"), "mcnemar_p"] <= 1
    assert r.loc[("trainee", "alone"), "accuracy_published"] == 70.7
    assert r.loc[("trainee", "with_model"), "accuracy_published"] == 77.8
    assert r.loc[("trainee", "with_model"), "sensitivity_published"] == 66.7
    t.loc[ext, "reader_trainee_alone"] = "fracture"
    with pytest.raises(InputError, match="reader_trainee_alone"):
        xu.reader_study(t, pred, n_boot=10)
