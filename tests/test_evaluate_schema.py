"""The one predictions schema: what it accepts, and bad files named by row and column."""

import numpy as np
import pandas as pd
import pytest

from vfrepro.errors import InputError
from vfrepro.evaluate.schema import class_index, prob_columns, read, validate

CL = ["acute", "chronic", "pathologic"]


def good(n=6):
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(3), size=n)
    df = pd.DataFrame({"case_id": [f"c{i}" for i in range(n)], "level": "L1", "dataset": "test",
                       "truth": [CL[i % 3] for i in range(n)]})
    for k, c in enumerate(CL):
        df[f"prob_{c}"] = P[:, k]
    df["pred"] = [CL[i] for i in P.argmax(1)]
    return df


def test_accepts_a_good_file_and_fills_patient(tmp_path):
    good().to_csv(tmp_path / "p.csv", index=False)
    df = read(tmp_path / "p.csv", CL)
    assert (df["patient"] == df["case_id"]).all()
    assert list(class_index(df["truth"], CL)) == [0, 1, 2, 0, 1, 2]
    assert prob_columns(["0", "1"]) == ["prob_0", "prob_1"]


@pytest.mark.parametrize("row,column,value,match", [
    (2, "prob_chronic", 1.5, "not a probability"),
    (4, "truth", "fracture", "is not one of"),
    (1, "prob_acute", np.nan, "not a probability"),
    (3, "pred", "none", "is not one of"),
])
def test_bad_cell_is_named_by_row_and_column(row, column, value, match):
    df = good()
    df[column] = df[column].astype(object)
    df.loc[row, column] = value
    with pytest.raises(InputError, match=rf"row {row} \(line {row + 2}\), column {column}: .*{match}") as e:
        validate(df, CL, path="p.csv")
    assert e.value.field == column and e.value.path == "p.csv"


def test_probabilities_must_sum_to_one_and_columns_must_exist():
    df = good()
    df.loc[5, "prob_acute"] = 0.0
    df.loc[5, ["prob_chronic", "prob_pathologic"]] = [0.2, 0.2]
    with pytest.raises(InputError, match="row 5 .*sum to 0.4"):
        validate(df, CL)
    with pytest.raises(InputError, match=r"lack column\(s\) \['level or mask_label'\]"):
        validate(good().drop(columns="level"), CL)
    with pytest.raises(InputError, match="prob_pathologic"):
        validate(good().drop(columns="prob_pathologic"), CL)


def test_multilabel_truth_columns():
    df = pd.DataFrame({"case_id": ["a", "b"], "mask_label": [20, 21], "split": "test",
                       "truth_OF": [1, 0], "truth_SN": [0, 2], "prob_OF": [0.9, 0.1], "prob_SN": [0.2, 0.7]})
    with pytest.raises(InputError, match="row 1 .*column truth_SN"):
        validate(df, ["OF", "SN"], multilabel=True)
    df.loc[1, "truth_SN"] = 1
    assert validate(df, ["OF", "SN"], multilabel=True)["truth_SN"].tolist() == [0, 1]


def test_pred_defaults_to_the_argmax():
    df = good().drop(columns="pred")
    out = validate(df, CL)
    assert list(out["pred"]) == [CL[i] for i in df[prob_columns(CL)].to_numpy().argmax(1)]
