"""liu2025_dlr combined model: no ASTLOF component among the clinical candidates unless the
config says so, and the flag is recorded in the outputs."""

import numpy as np
import pandas as pd
import pytest

from vfrepro.errors import InputError
from vfrepro.studies.liu2025_dlr import nomogram as N


def _tables(n_pat=90, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_pat):
        split = "train" if p < 60 else ("internal" if p < 75 else "external")
        age, sex, t = int(rng.integers(55, 90)), rng.choice(["F", "M"]), float(rng.normal(-2.8, 0.8))
        pain = rng.choice(["none", "positional", "persistent"])
        for lvl in rng.choice(["T11", "T12", "L1", "L2"], size=2, replace=False):
            label = int(np.clip(np.round(1 + rng.normal()), 0, 2))
            code = {"T11": 18, "T12": 19, "L1": 20, "L2": 21}[lvl]
            rows.append({"key": f"c{p}:{code}", "case_id": f"c{p}", "split": split, "label": label, "level": lvl,
                         "segment": "lumbar" if lvl.startswith("L") else "thoracic", "age": age, "sex": sex,
                         "t_score": t, "pain": pain, "radscore": label + rng.normal(0, 0.6)})
    t = pd.DataFrame(rows)
    fused = t.set_index("key")[["case_id", "split", "label", "radscore"]]
    return fused, t.drop(columns="radscore")


def test_default_candidates_are_baseline_variables_not_components():
    from vfrepro.studies.liu2025_dlr.cohort import ASTLOF_COMPONENTS
    assert not set(N.DEFAULT_CLINICAL) & set(ASTLOF_COMPONENTS)
    fused, cohort = _tables()
    out, pred, fit = N.run(fused, cohort, list(N.DEFAULT_CLINICAL), 0.05, "ordinal")
    assert out["allow_label_components"] is False and out["label_components_among_candidates"] == []
    assert {t["variable"] for t in out["tests"]} == {"age", "sex", "segment"}
    assert set(pred["split"]) == {"train", "internal", "external"}


@pytest.mark.parametrize("var", ["t_score", "pain"])
def test_a_component_is_refused_naming_the_config_key(var):
    fused, cohort = _tables()
    with pytest.raises(InputError, match="allow_label_components") as e:
        N.run(fused, cohort, ["age", var], 0.05, "ordinal")
    assert "liu2025_dlr.nomogram.clinical" in str(e.value) and var in str(e.value)


def test_the_flag_allows_a_component_and_is_recorded():
    fused, cohort = _tables()
    out, _, _ = N.run(fused, cohort, ["age", "sex", "t_score", "pain"], 1.0, "ordinal", allow_label_components=True)
    assert out["allow_label_components"] is True
    assert out["label_components_among_candidates"] == ["t_score", "pain"]
    # alpha 1: every testable candidate enters, the components too, and the record says so
    assert set(out["label_components_in_model"]) == {"t_score", "pain"}
    assert any(r[0] == "nomogram.allow_label_components" for r in out["chosen"])


def test_unknown_variable_is_refused():
    fused, cohort = _tables()
    with pytest.raises(InputError, match="unknown variable"):
        N.run(fused, cohort, ["age", "bmi"], 0.05, "ordinal")


def test_segment_from_level():
    from vfrepro.studies.liu2025_dlr.cohort import segment
    assert [segment(v) for v in ("T10", "t12", "L1", "L3")] == ["thoracic", "thoracic", "lumbar", "lumbar"]
