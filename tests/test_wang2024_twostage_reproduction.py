"""wang2024_twostage's reproduction stage: its tables mapped to the verdict's long form."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vfrepro import registry
from vfrepro.evaluate import published as pub
from vfrepro.evaluate import reproduction_cli as rc
from vfrepro.evaluate import verdict as V
from vfrepro.studies.wang2024_twostage import tables as T

STUDY = "wang2024_twostage"
METRICS = ("sensitivity", "specificity", "ppv", "npv", "f1")


def _write_tables(d, *, planted: float | None = None):
    """A small hand-made set of the study's tables (the shapes of a real default run)."""
    pd.DataFrame({"training": [66, "69.2 ± 9.4", "27 (40.9)", "39 (59.1)", "-2.6 ± 1.1", 330],
                  "test": [18, "68.1 ± 12.2", "5 (27.8)", "13 (72.2)", "-2.7 ± 1.1", 90]},
                 index=["Patient count", "Age (year)", "Male, n (%)", "Female, n (%)", "DEXA T-score",
                        "Number of slices"]).to_csv(d / "table1.csv")
    pd.DataFrame([{"variable": "sex", "test": "Pearson chi-square", "statistic": 1.19, "p": 0.55, "note": "df=1"},
                  {"variable": "age", "test": "one-way ANOVA", "statistic": 0.2, "p": 0.8, "note": ""},
                  {"variable": "age", "test": "Tukey HSD training vs test", "statistic": 1.1, "p": 0.9, "note": ""}]
                 ).to_csv(d / "table1_tests.csv", index=False)
    t2 = {"dataset": ["training", "test"]}
    for c in T.CLASSES:
        t2[c], t2[f"{c} %"] = [10, 5], [16.7, 16.7]
    pd.DataFrame(t2).to_csv(d / "table2.csv", index=False)
    det = []
    for ds in ("training", "test"):
        for bb in ("resnet18", "mobilenetv2"):
            for q, v in (("map", 0.9), ("fp_rate_pct", 1.7341), ("fn_rate_pct", 5.2925), ("images", 90),
                         ("vertebrae", 359), ("detected", 346), ("fn", 19), ("fp", 6)):
                det.append({"dataset": ds, "row": ds, "column": bb, "quantity": q, "value": v})
        det.append({"dataset": ds, "row": ds, "column": "resnet18 vs mobilenetv2", "quantity": "p", "value": 1e-5})
    pd.DataFrame(det).to_csv(d / "detection_table.csv", index=False)
    t3 = []
    for ds in ("training", "test"):
        for c in T.CLASSES:
            r = {"dataset": ds, "class": c, "n": 400, "n_pos": 100, "note": ""}
            for mt in METRICS:
                r[f"{mt}_reproduced"], r[f"{mt}_ci_low"], r[f"{mt}_ci_high"] = 0.95, 0.90, 0.999
            t3.append(r)
        sn = t3[-4]                                   # sn: no predicted positives
        sn.update(note="no predicted positives (PPV undefined)", ppv_reproduced=np.nan, ppv_ci_low=np.nan,
                  ppv_ci_high=np.nan)
        for lab in ("mean (no SN)", "sd (no SN)"):
            t3.append({"dataset": ds, "class": lab, "n": 400, "n_pos": np.nan, "note": "n = 4",
                       **{f"{mt}_reproduced": 0.9 for mt in METRICS}})
    if planted is not None:                           # training OVCF sensitivity: far from the paper
        t3[0]["sensitivity_reproduced"], t3[0]["sensitivity_ci_low"], t3[0]["sensitivity_ci_high"] = planted, \
            planted - 0.05, planted + 0.05
    pd.DataFrame(t3).to_csv(d / "table3.csv", index=False)
    return d


def _verdicts(tmp_path, **kw):
    return V.verdicts(STUDY, T.reproduced_long(_write_tables(tmp_path, **kw))).set_index(["row", "column",
                                                                                           "quantity"])


def test_registry_and_hooks():
    assert "reproduction" in registry.stages(STUDY)
    assert rc.has_reproduction(STUDY)
    assert set(T.REPRODUCTION_INPUTS) == {"table1.csv", "table1_tests.csv", "table2.csv", "detection_table.csv",
                                          "table3.csv"}


def test_records_get_values(tmp_path):
    t = _verdicts(tmp_path)
    assert len(t) == len(pub.load(STUDY).records)
    got = t["reproduced"].notna()
    # every Table 3 number of the two datasets built, Table 1/2 of those datasets, the detector's
    for key in [("test", "ovcf", "sensitivity"), ("training", "kd", "f1"), ("Patient count", "training", "n"),
                ("Age (year)", "test", "sd"), ("Male", "training", "percent"), ("test", "of", "n"),
                ("test", "resnet18", "map"), ("test", "resnet18", "fp_rate_pct"), ("sex", "all datasets", "chi2"),
                ("age", "training vs test", "p"), ("test", "detection", "images"),
                ("test", "mean of ovcf, of, kd, ps", "f1_mean")]:
        assert got[key], key
    assert float(t.loc[("Age (year)", "test", "sd"), "reproduced"]) == pytest.approx(12.2)
    # Table 3 with the study's CIs (consistent: published inside 0.90-0.999)
    r = t.loc[("test", "ovcf", "sensitivity")]
    assert r["verdict"] == "consistent" and r["ci_method"] == "Wilson"
    assert t.loc[("test", "ovcf", "f1"), "ci_method"] == "percentile bootstrap"
    # FP / FN rates: Wilson on their denominators, in percent
    fp, fn = t.loc[("test", "resnet18", "fp_rate_pct")], t.loc[("test", "resnet18", "fn_rate_pct")]
    assert fp["ci_method"] == "Wilson score on n=346" and fn["ci_method"] == "Wilson score on n=359"
    lo, hi = V.wilson(0.017341, 346)
    assert fp["reproduced_ci_low"] == pytest.approx(100 * lo) and fp["reproduced_ci_high"] == pytest.approx(100 * hi)
    assert fp["verdict"] == "consistent" and fn["verdict"] == "inconsistent"   # 1.52 in, 1.33 out
    # not evaluable, with the reasons
    assert t.loc[("test", "resnet18", "map"), "reason"].startswith("no CI")
    assert t.loc[("Patient count", "test", "n"), "reason"].startswith("a count")
    assert t.loc[("test", "detection", "vertebrae"), "reason"].startswith("a count")
    assert t.loc[("Male", "test", "percent"), "reason"].startswith("a descriptive share")
    assert "one-vs-all" in t.loc[("test", "mean of ovcf, of, kd, ps", "ppv_mean"), "reason"]
    assert t.loc[("test", "sn", "ppv"), "reason"] == "no predicted positives (PPV undefined)"
    assert t.loc[("alternative hospital", "ovcf", "sensitivity"), "reason"] == "not produced by this run"
    assert set(t["verdict"]) <= set(V.VERDICTS)


def test_planted_far_value_is_inconsistent(tmp_path):
    t = _verdicts(tmp_path, planted=0.30)
    r = t.loc[("training", "ovcf", "sensitivity")]       # published 0.984
    assert r["verdict"] == "inconsistent"
    assert r["difference"] == pytest.approx(0.30 - 0.984)
    assert t.loc[("test", "ovcf", "sensitivity"), "verdict"] == "consistent"   # published 0.958, unplanted
