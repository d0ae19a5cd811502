"""xu2023_vcf against its paper (issue 14): the overall row as the paper computes it, the
stratified patient split, Table 1, the reader figure, patient-level CIs and chosen.csv."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import multilabel_confusion_matrix, precision_recall_fscore_support

from vfrepro.cli import main
from vfrepro.errors import InputError
from vfrepro.evaluate import published as pub
from vfrepro.folds import patient_split
from vfrepro.studies import xu2023_vcf as xu
from vfrepro.studies.xu2023_vcf import tables as T

from test_xu2023_vcf import fake_predictions, fake_table

CL = xu.CLASSES


def noisy(n, seed, acc=0.7):
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.5, 0.4, 0.1])
    q = np.where(rng.random(n) < acc, y, rng.integers(0, 3, n))
    return y, q


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_overall_row_is_micro_as_sklearn(seed):
    y, q = noisy(200, seed)
    o = T.paper_overall(y, q, 3)
    p_mi, r_mi, _, _ = precision_recall_fscore_support(y, q, labels=[0, 1, 2], average="micro")
    top1 = (y == q).mean()
    assert o["sensitivity"] == pytest.approx(top1) == pytest.approx(r_mi)
    assert o["ppv"] == pytest.approx(p_mi)
    tn, fp, fn, tp = multilabel_confusion_matrix(y, q, labels=[0, 1, 2]).sum(axis=0).ravel()
    assert o["specificity"] == pytest.approx(tn / (tn + fp)) == pytest.approx((1 + top1) / 2)
    assert o["accuracy"] == pytest.approx((tp + tn) / (3 * len(y)))
    p_w, r_w, _, _ = precision_recall_fscore_support(y, q, labels=[0, 1, 2], average="weighted", zero_division=0)
    assert o["precision"] == pytest.approx(p_w)
    assert o["f1"] == pytest.approx(2 * p_w * r_w / (p_w + r_w))
    # the macro row differs: the mean of the per-class sensitivities is not top-1 accuracy
    _, r_ma, _, _ = precision_recall_fscore_support(y, q, labels=[0, 1, 2], average="macro")
    assert abs(r_ma - top1) > 1e-3


def test_table2_overall_sensitivity_is_top1_and_macro_row_is_mean():
    pred = fake_predictions(fake_table(40, seed=2), seed=2)
    t2 = T.table2(pred, n_boot=50, seed=0).set_index(["dataset", "class"])
    for ds in t2.index.get_level_values(0).unique():
        r = t2.loc[(ds, "overall")]
        assert r["sensitivity_reproduced"] == pytest.approx(r["top1_accuracy_reproduced"], abs=0.051)
        assert r["ppv_reproduced"] == pytest.approx(r["top1_accuracy_reproduced"], abs=0.051)
        present = [c for c in CL if t2.loc[(ds, c), "n"] > 0]
        mean = np.mean([t2.loc[(ds, c), "sensitivity_reproduced"] for c in present])
        assert t2.loc[(ds, "macro"), "sensitivity_reproduced"] == pytest.approx(mean, abs=0.1)


def test_reading_reproduces_the_papers_overall_rows_from_its_class_rows():
    """The reading is checked on the paper's own numbers: its class rows (Table 2) and class
    counts (Table 1) give its overall rows to within the rounding of the printed values."""
    P = pub.load("xu2023_vcf")
    macro_off = 0
    for ds in ("Testing", "GZFPH", "WHTH", "HB672H", "Prospective"):
        n = np.array([P.value(ds, c, "count") for c in CL], float)
        sens = np.array([P.value(ds, c, "sensitivity") for c in CL]) / 100
        prec = np.array([P.value(ds, c, "precision") for c in CL]) / 100
        top1 = (sens * n).sum() / n.sum()
        wp = (prec * n).sum() / n.sum()
        expect = {"sensitivity": top1, "ppv": top1, "specificity": (1 + top1) / 2, "npv": (1 + top1) / 2,
                  "accuracy": (1 + 2 * top1) / 3, "precision": wp, "f1": 2 * wp * top1 / (wp + top1)}
        for m, v in expect.items():
            assert 100 * v == pytest.approx(P.value(ds, "overall", m), abs=0.3), (ds, m)
        # the macro mean would not: the mean class sensitivity misses the overall one
        macro_off += abs(100 * sens.mean() - P.value(ds, "overall", "sensitivity")) > 3
    assert macro_off >= 3


def skewed_table(n_patients=60, seed=0):
    """A development cohort with few pathologic patients (two), and an external site."""
    t = fake_table(n_patients, seed)
    t["split"] = np.where(t.index < 3 * 50, "train", "external")
    t.loc[t.split == "external", "site"] = "site3"
    dev = t.split == "train"
    t.loc[dev & (t.vcf_type == "pathologic"), "vcf_type"] = "acute"
    for p in ("c0000000003", "c0000000011"):
        t.loc[(t.case_id == p) & (t.level == "L1"), "vcf_type"] = "pathologic"
    return t


def test_stratified_split_by_patient_keeps_every_class():
    t = skewed_table()
    tr, ev = xu.prepare(t, {"dev_split": "stratified", "test_fraction": 0.2, "seed": 0})
    test = ev[ev.dataset == "test"]
    assert set(test.case_id).isdisjoint(tr.case_id)
    assert set(test.vcf_type) == set(CL) and set(tr.vcf_type) == set(CL)
    assert 0.1 < test.case_id.nunique() / (test.case_id.nunique() + tr.case_id.nunique()) < 0.3
    # reproducible, and the random (unstratified) draw can lose a class: on this cohort it does
    tr2, ev2 = xu.prepare(t, {"dev_split": "stratified", "test_fraction": 0.2, "seed": 0})
    assert tr.equals(tr2)
    lost = [s for s in range(20) if "pathologic" not in set(
        xu.prepare(t, {"dev_split": "random", "test_fraction": 0.2, "seed": s})[1].query("dataset == 'test'").vcf_type)]
    assert lost
    with pytest.raises(InputError, match="dev_split"):
        xu.prepare(t, {"dev_split": "bogus"})


def test_patient_split_with_labels_is_grouped_and_stratified():
    rng = np.random.default_rng(0)
    groups = np.repeat([f"p{i}" for i in range(50)], 3)
    y = rng.choice(["a", "b", "c"], size=150, p=[0.6, 0.35, 0.05])
    for seed in range(5):
        m = patient_split(groups, 0.2, seed, y=y)
        assert set(groups[m]).isdisjoint(groups[~m])
        assert set(y[m]) == set(y) == set(y[~m])
        assert 8 <= len(set(groups[m])) <= 12


def test_cis_resample_patients():
    pred = fake_predictions(fake_table(40, seed=1), seed=1)
    t2 = T.table2(pred, n_boot=200, seed=0)
    assert t2["ci_method"].str.contains("cluster").all()
    # duplicating every vertebra within its patient leaves the patient-level CI about as wide
    dup = pd.concat([pred, pred], ignore_index=True)
    t2d = T.table2(dup, n_boot=200, seed=0)

    def width(t, ds, c):
        lo, hi = map(float, t.set_index(["dataset", "class"]).loc[(ds, c), "auc_ci95_reproduced"].split("-"))
        return hi - lo
    w, wd = width(t2, "prospective", "acute"), width(t2d, "prospective", "acute")
    assert wd == pytest.approx(w, rel=0.35)


def test_table1_counts_tests_and_published(tmp_path):
    from scipy.stats import chi2_contingency
    t = fake_table(40, seed=3)
    t["age"] = 60 + (np.arange(len(t)) // 3) % 25
    t["sex"] = np.where((np.arange(len(t)) // 3) % 3 == 0, "M", "F")
    pred = fake_predictions(t, seed=3)
    t1, md = T.table1(t, pred)
    r = t1.set_index("characteristic")
    fr = t[t.vcf_type.isin(CL)]
    dev = fr[fr.split.isin(["train", "internal"])]
    assert r.loc["vertebrae", "training"] + r.loc["vertebrae", "test"] == len(dev)
    assert r.loc["patients", "test"] == pred.loc[pred.dataset == "test", "case_id"].nunique()
    assert r.loc["vertebrae", "prospective"] == (fr.split == "prospective").sum()
    assert r.loc["vertebrae", "training (published Training)"] == 1623
    assert r.loc["pathologic", "external site4 (published WHTH)"] == 9
    datasets = ["training", "test", "external site3", "external site4", "prospective"]
    mix = r.loc[CL, datasets].to_numpy(float).T
    mix = mix[:, mix.sum(0) > 0]
    assert r.loc["acute", "p_value"] == pytest.approx(chi2_contingency(mix)[1], rel=1e-3)
    assert 0 <= r.loc["age mean", "p_value"] <= 1 and "ANOVA" in r.loc["age mean", "statistical_test"]
    assert "Table 1" in md
    # predictions from another cohort: refused
    bad = pred.copy()
    bad.loc[bad.dataset == "test", "case_id"] = "cffffffffff"
    with pytest.raises(InputError, match="do not belong together"):
        T.table1(t, bad)


def test_evaluate_writes_table1_and_chosen(tmp_path):
    t = fake_table(30, seed=4)
    pred = fake_predictions(t, seed=4)
    pred.to_csv(tmp_path / "p.csv", index=False)
    t.to_csv(tmp_path / "m.csv", index=False)
    base = ["xu2023_vcf", "evaluate", "--predictions", str(tmp_path / "p.csv"), "--manifest", str(tmp_path / "m.csv"),
            "--n-boot", "20"]
    assert main(base + ["--out", str(tmp_path / "a"), "--cohort", "synthetic"]) == 0
    assert main(base + ["--out", str(tmp_path / "b"), "--cohort", "manifest"]) == 0
    ch = pd.read_csv(tmp_path / "a" / "chosen.csv")
    assert {"overall row", "development split", "epochs", "CIs"} <= set(ch.setting)
    assert "synthetic" in set(ch.value)
    assert "synthetic" not in set(pd.read_csv(tmp_path / "b" / "chosen.csv").value)
    md = (tmp_path / "a" / "table2.md").read_text()
    assert "Deviations from the paper" in md and "cluster bootstrap" in md
    assert (tmp_path / "a" / "table1.csv").stat().st_size > 0
    # same inputs, same seed: byte-identical tables
    assert main(base + ["--out", str(tmp_path / "c"), "--cohort", "synthetic"]) == 0
    for f in ("table2.csv", "table1.csv", "chosen.csv", "table2.md"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "c" / f).read_bytes()


def test_reader_figure_per_level(tmp_path):
    t = fake_table(30, seed=5)
    pred = fake_predictions(t, seed=5)
    assert T.reader_figure(t, pred, tmp_path / "skip.png") == T.SKIPPED
    t = t.merge(pred[["case_id", "level", "truth"]], on=["case_id", "level"], how="left")
    ext = t.split == "external"
    rng = np.random.default_rng(0)
    for name, p_err in (("trainee", 0.6), ("expert", 0.2)):
        lab = [CL[rng.integers(0, 3)] if rng.random() < p_err else v for v in t.truth.fillna("acute")]
        t[f"reader_{name}_alone"] = np.where(ext, lab, None)
        t[f"reader_{name}_with_model"] = np.where(ext, t.truth, None)
    t = t.drop(columns=["truth"])
    msg = T.reader_figure(t, pred, tmp_path / "fig6.png")
    assert "2 reader" in msg and (tmp_path / "fig6.png").stat().st_size > 5000
    df, md, _ = T.reader_study(t, pred, n_boot=50)
    r = df.set_index(["reader", "condition"])
    assert r.loc[("expert", "with_model"), "sensitivity"] == 100.0
    assert r.loc[("expert", "alone"), "sensitivity"] == pytest.approx(r.loc[("expert", "alone"), "top1_accuracy"])
    assert r.loc[("expert", "alone"), "accuracy_published"] == 78.2
