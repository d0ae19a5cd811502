"""wang2024_twostage Table 1 (with the paper's tests) and Table 2; the published numbers file."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats as st

from vfrepro.studies.wang2024_twostage import tables as T


def _manifest():
    rng = np.random.default_rng(0)
    recs = []
    for split, n, age in (("train", 30, 70), ("internal", 12, 72), ("external", 9, 78), ("prospective", 5, 60)):
        for i in range(n):
            a, sx, t = int(rng.normal(age, 6)), "F" if rng.random() < 0.7 else "M", round(float(rng.normal(-2.5, 1)), 1)
            for lv in ("T12", "L1"):                       # two rows (vertebrae) per patient
                recs.append({"case_id": f"{split}{i}", "split": split, "age": a, "sex": sx,
                             "t_score": t, "level": lv})
    return pd.DataFrame(recs)


def test_table1_and_paper_tests():
    m = _manifest()
    slices = pd.Series(5, index=m.case_id.unique())
    tab, tests = T.table1(m, slices)
    assert list(tab.columns) == ["training", "test", "alternative hospital"]
    assert tab.loc["Patient count"].tolist() == [30, 12, 9]
    assert tab.loc["Number of slices"].tolist() == [150, 60, 45]
    p = m.drop_duplicates("case_id")
    p = p[p.split != "prospective"]
    order = ["train", "internal", "external"]
    ct = pd.crosstab(p.split, p.sex).reindex(order)
    chi = st.chi2_contingency(ct.to_numpy(), correction=False)
    row = tests.set_index(["variable", "test"])
    assert row.loc[("sex", "Pearson chi-square"), "p"] == pytest.approx(chi.pvalue)
    groups = [p.loc[p.split == s, "age"].to_numpy(float) for s in order]
    assert row.loc[("age", "one-way ANOVA"), "p"] == pytest.approx(st.f_oneway(*groups).pvalue)
    assert row.loc[("age", "Bartlett"), "p"] == pytest.approx(st.bartlett(*groups).pvalue)
    tk = st.tukey_hsd(*groups)
    assert row.loc[("age", "Tukey HSD training vs alternative hospital"), "p"] == pytest.approx(tk.pvalue[0, 2])
    assert ("t_score", "one-way ANOVA") in row.index
    m_ = f"{p.loc[p.split == 'train', 'age'].mean():.1f}"
    assert tab.loc["Age (year)", "training"].startswith(m_)


def test_table1_degenerate_and_missing_column():
    m = _manifest()
    m["sex"] = "F"
    _, tests = T.table1(m)
    assert np.isnan(tests.set_index("variable").loc["sex", "p"])
    from vfrepro.errors import InputError
    with pytest.raises(InputError) as e:
        T.table1(m.drop(columns="t_score"), manifest_path="man.csv")
    assert e.value.field == "t_score"


def test_table2_counts_and_percent():
    v = pd.DataFrame({"dataset": ["training"] * 4 + ["test"] * 2,
                      "ovcf": [1, 1, 0, 0, 0, 1], "of": [0, 0, 0, 0, 0, 0], "sn": [0, 0, 0, 0, 0, 0],
                      "kd": [1, 0, 0, 0, 0, 0], "ps": [0, 0, 0, 0, 0, 0]})
    t = T.table2(v, order=["training", "test"])
    assert t.loc["training", ["ovcf", "kd", "normal"]].tolist() == [2, 1, 2]
    assert t.loc["training", "ovcf %"] == pytest.approx(40.0)        # 2 of 5 class counts
    assert t.loc["test", "normal"] == 1 and t.loc["test", "of %"] == 0.0


def test_published_yaml():
    p = Path(__file__).resolve().parents[1] / "src/vfrepro/data/published/wang2024_twostage.yaml"
    d = yaml.safe_load(p.read_text())
    assert "citation" in d and len(d["records"]) > 100
    keys = {"source", "row", "column", "quantity", "value", "ci_low", "ci_high", "note"}
    assert all(keys <= set(r) for r in d["records"])
    idx = {(r["source"], r["row"], r["column"], r["quantity"]): r["value"] for r in d["records"]}
    assert idx[("Table 3", "test", "ovcf", "sensitivity")] == 0.958
    assert idx[("Table 3", "alternative hospital", "sn", "f1")] == 0.340
    # the paper's four-disease means are the means of Table 3 (a consistency check of the transcription)
    for ds, mean in (("training", 0.945), ("test", 0.919), ("alternative hospital", 0.891)):
        v = [idx[("Table 3", ds, c, "sensitivity")] for c in ("ovcf", "of", "kd", "ps")]
        assert np.mean(v) == pytest.approx(mean, abs=1.5e-3)
    assert sum(idx[("Table 2", "training", c, "n")] for c in ("ovcf", "of", "sn", "kd", "ps")) == 14584
