"""liu2025_dlr Table 1: baseline characteristics by cohort; tests checked against base R."""

import numpy as np
import pandas as pd

from vfrepro.studies.liu2025_dlr.table1 import markdown, table1


def _cohort(seed=0, n_pat=80):
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_pat):
        split = rng.choice(["train", "internal", "external", "prospective"], p=[0.55, 0.15, 0.15, 0.15])
        age = int(rng.integers(50, 95)) + (20 if split == "external" else 0)  # a planted age shift
        sex, t = rng.choice(["F", "M"], p=[0.7, 0.3]), round(float(rng.normal(-2.8, 0.8)), 1)
        for lvl in rng.choice(["T11", "T12", "L1", "L2"], size=int(rng.integers(1, 3)), replace=False):
            rows.append({"key": f"p{p}:{lvl}", "case_id": f"p{p}", "level": lvl, "split": split,
                         "label": int(rng.integers(0, 3)), "age": age, "sex": sex, "t_score": t})
    return pd.DataFrame(rows)


def _p(t, char):
    return float(t.loc[t["characteristic"].str.startswith(char), "p"].dropna().iloc[0])


def test_counts_and_means_by_cohort():
    c = _cohort()
    t = table1(c).set_index(["characteristic", "category"])
    n = c["split"].value_counts()
    assert t.loc[("Vertebrae, n", ""), "training"] == str(n["train"])
    k = int(((c["split"] == "external") & (c["sex"] == "F")).sum())
    assert t.loc[("Sex, n (%)", "F"), "external validation"] == f"{k} ({100 * k / n['external']:.1f})"
    a = c.loc[c["split"] == "internal", "age"]
    assert t.loc[("Age (years), mean (SD)", ""), "internal validation"] == f"{a.mean():.2f} ({a.std():.2f})"
    # the planted age shift of the external cohort is detected
    assert _p(table1(c), "Age") < 0.05


def test_p_values_match_base_r(tmp_path):
    from tests.oracle.rbridge import read_out, run_r
    c = _cohort(seed=1)
    c["segment"] = np.where(c["level"].str.startswith("L"), "lumbar", "thoracic")
    t = table1(c)
    r = read_out(run_r("table1.R", tmp_path, vert=c)).set_index("what")["p"]
    ours = {"age": _p(t, "Age"), "t_score": _p(t, "T-score"), "sex": _p(t, "Sex"),
            "segment": _p(t, "Fracture location"), "level": _p(t, "Level"), "label": _p(t, "ASTLOF")}
    for k, v in ours.items():
        assert np.isclose(v, r[k], rtol=1e-9), (k, v, r[k])


def test_no_identifiers_and_a_missing_cohort_is_left_out_of_the_tests():
    c = _cohort(seed=2)
    c = c[c["split"] != "prospective"]
    t = table1(c)
    text = t.to_csv() + markdown(t)
    assert not any(pid in text for pid in c["case_id"].unique())
    assert (t["prospective validation"].iloc[0] == "0")
    assert np.isfinite(_p(t, "ASTLOF"))
