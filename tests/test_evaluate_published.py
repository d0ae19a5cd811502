"""Published numbers: one record per number, in package data, read by the one loader."""

import numpy as np
import pandas as pd
import pytest

from vfrepro import registry
from vfrepro.evaluate import published as pub

WITH_NUMBERS = [s.name for s in registry.studies() if s.published]


@pytest.mark.parametrize("study", WITH_NUMBERS)
def test_every_registered_file_loads_with_the_record_fields(study):
    P = pub.load(study)
    assert P.citation and len(P.records)
    assert list(P.records.columns) == list(pub.FIELDS)
    assert (P.records["study"] == study).all()
    ci = P.records[["ci_low", "ci_high"]]
    both = ci.notna().all(axis=1)
    assert (ci.notna().sum(axis=1) != 1).all(), "a CI needs both bounds"
    num = P.records[both]
    assert (num["ci_low"] <= num["ci_high"]).all()
    inside = (num["ci_low"] <= num["value"].astype(float)) & (num["value"].astype(float) <= num["ci_high"])
    assert num.loc[~inside, "note"].str.contains("as printed").all(), num[~inside]


def test_numbers_the_tables_rely_on():
    liu, rx, xu = pub.load("liu2025_dlr"), pub.load("rosenberg_xray"), pub.load("xu2023_vcf")
    assert liu.get("radimagenet macro", "prospective", "macro_auc") | {} == {
        **liu.get("radimagenet macro", "prospective", "macro_auc"), "value": 0.852, "ci_low": 0.732, "ci_high": 0.951}
    assert liu.value("imagenet", "", "best_model") == "LightGBM"
    assert rx.value("resnet18", "test", "TN") == 25 and isinstance(rx.value("resnet18", "test", "TN"), int)
    assert "test set of 52" in rx.note and "25/30" in rx.note
    r = xu.get("GZFPH", "pathologic", "auc")
    assert (r["value"], r["ci_low"], r["ci_high"]) == (0.769, 0.771, 0.780)  # as printed (CI above the AUC)
    assert np.isnan(xu.value("Testing", "overall", "auc"))
    assert xu.value("trainee", "with_model", "accuracy") == 77.8


def test_beside_joins_published_to_reproduced():
    rep = pd.DataFrame({"row": ["resnet18", "resnet18", "densenet"], "column": "test",
                        "quantity": ["auc", "FP", "auc"], "value": [0.9, 4, 0.7]})
    t = pub.beside(rep, pub.load("rosenberg_xray"))
    assert list(t["published"][:2]) == [0.88, 3] and pd.isna(t["published"][2])
    assert list(t["value"]) == [0.9, 4, 0.7]


def test_bad_files_are_refused():
    with pytest.raises(ValueError, match="lacks"):
        pub._parse("x", "citation: c\nrecords:\n  - {study: x, row: a}\n", "x.yaml")
    rec = "{study: x, source: T1, row: a, column: b, quantity: q, value: 1, ci_low: null, ci_high: null, note: ''}"
    with pytest.raises(ValueError, match="published twice"):
        pub._parse("x", f"citation: c\nrecords:\n  - {rec}\n  - {rec}\n", "x.yaml")
    with pytest.raises(ValueError, match="belongs to study"):
        pub._parse("y", f"citation: c\nrecords:\n  - {rec}\n", "x.yaml")


def test_markdown_and_latex():
    df = pd.DataFrame({"a": ["x_1", "y"], "b": [np.nan, 2.5]})
    assert pub.markdown(df) == "| a | b |\n|---|---|\n| x_1 |  |\n| y | 2.5 |"
    tex = pub.latex(df, ["a", "b"], ["A", "B"], "cap", "ll")
    assert r"x\_1 &  \\" in tex and tex[2] == r"\caption{cap}"
