"""The predictions file every study writes, one row per evaluated unit (vertebra).

Columns:

- ``case_id``: the case (pseudonymised id).
- ``level`` or ``mask_label``: the vertebra within the case.
- ``patient``: the patient; optional, ``case_id`` when absent (one case per patient here).
- ``split`` or ``dataset``: where the row was evaluated (``dataset`` refines ``split``:
  ``test``, ``external <site>``, ``prospective``).
- ``truth``: the true class name (single-label studies); multi-label studies have one 0/1
  column ``truth_<label>`` per label instead.
- ``prob_<class>`` for every class (or ``prob_<label>`` per label, multi-label): scores in
  [0, 1]; single-label rows sum to 1.
- ``pred``: the predicted class (optional; argmax of the probabilities when absent).

Other columns (``site``, ``model``, ...) are kept and ignored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = ["ID_COLUMNS", "prob_columns", "truth_columns", "validate", "read", "class_index", "patients", "check_patient_splits"]

ID_COLUMNS = ("case_id", ("level", "mask_label"), ("split", "dataset"))
_SUM_TOL = 1e-4


def prob_columns(classes) -> list[str]:
    return [f"prob_{c}" for c in classes]


def truth_columns(labels) -> list[str]:
    return [f"truth_{c}" for c in labels]


def _bad(path, row, column, message):
    # Row numbers as a reader sees them in the file: header is line 1, first row line 2.
    raise InputError(f"predictions row {row} (line {row + 2}), column {column}: {message}",
                     path=None if path is None else str(path), field=column)


def validate(df: pd.DataFrame, classes, *, multilabel: bool = False, path=None) -> pd.DataFrame:
    """Check ``df`` against the schema; gives it back with ``truth``/``pred`` as strings and
    ``patient`` filled. Raises InputError naming the row and column of the first bad cell."""
    classes = [str(c) for c in classes]
    need = ["case_id"]
    for alt in ID_COLUMNS[1:]:
        if not any(c in df.columns for c in alt):
            need.append(" or ".join(alt))
    need += truth_columns(classes) if multilabel else ["truth"]
    need += prob_columns(classes)
    lacking = [c for c in need if c not in df.columns]
    if lacking:
        raise InputError(f"predictions lack column(s) {lacking}; the schema is in vfrepro.evaluate.schema",
                         path=None if path is None else str(path), field=lacking[0])
    out = df.copy()
    out["case_id"] = out["case_id"].astype(str)
    if "patient" not in out.columns:
        out["patient"] = out["case_id"]
    P = out[prob_columns(classes)].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    bad = ~np.isfinite(P) | (P < 0) | (P > 1)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        _bad(path, i, prob_columns(classes)[j], f"{df[prob_columns(classes)[j]].iloc[i]!r} is not a probability in [0, 1]")
    if multilabel:
        for c in truth_columns(classes):
            v = out[c].astype(str)
            wrong = ~v.isin(["0", "1", "0.0", "1.0"])
            if wrong.any():
                i = int(np.flatnonzero(wrong.to_numpy())[0])
                _bad(path, i, c, f"{out[c].iloc[i]!r} is not 0 or 1")
            out[c] = v.astype(float).astype(int)
        return out
    out["truth"] = out["truth"].astype(str)
    wrong = ~out["truth"].isin(classes)
    if wrong.any():
        i = int(np.flatnonzero(wrong.to_numpy())[0])
        _bad(path, i, "truth", f"{out['truth'].iloc[i]!r} is not one of {classes}")
    off = np.abs(P.sum(axis=1) - 1) > _SUM_TOL
    if off.any():
        i = int(np.flatnonzero(off)[0])
        _bad(path, i, prob_columns(classes)[0], f"probabilities sum to {P[i].sum():.6g}, not 1")
    if "pred" not in out.columns:
        out["pred"] = np.asarray(classes)[P.argmax(axis=1)]
    else:
        out["pred"] = out["pred"].astype(str)
        wrong = ~out["pred"].isin(classes)
        if wrong.any():
            i = int(np.flatnonzero(wrong.to_numpy())[0])
            _bad(path, i, "pred", f"{out['pred'].iloc[i]!r} is not one of {classes}")
    return out


def read(path, classes, *, multilabel: bool = False) -> pd.DataFrame:
    """Read and validate a predictions CSV (ids and labels kept as strings)."""
    from pathlib import Path
    if not Path(path).is_file():
        raise InputError("predictions file not found", path=str(path))
    text = {c: str for c in ("case_id", "patient", "level", "split", "dataset", "site", "truth", "pred")}
    return validate(pd.read_csv(path, dtype=text), classes, multilabel=multilabel, path=path)


def class_index(labels, classes) -> np.ndarray:
    """Class names -> indices 0..K-1 in the order of ``classes``."""
    lookup = {str(c): i for i, c in enumerate(classes)}
    return np.array([lookup[str(v)] for v in labels], dtype=int)


def patients(df: pd.DataFrame) -> np.ndarray:
    """The patient of each row, the unit every CI resamples: ``patient``, else ``case_id``
    (one case is one patient's scan; several vertebrae come from it)."""
    return (df["patient"] if "patient" in df.columns else df["case_id"]).astype(str).to_numpy()


def check_patient_splits(df: pd.DataFrame, path=None) -> None:
    """A patient evaluated in two splits (``split``, else ``dataset``) leaks between them:
    InputError naming the first row whose split differs from that patient's first row."""
    col = "split" if "split" in df.columns else "dataset" if "dataset" in df.columns else None
    if col is None:
        return
    patient = patients(df)
    split = df[col].astype(str).to_numpy()
    first: dict = {}
    for i, (p, s) in enumerate(zip(patient, split)):
        if first.setdefault(p, (i, s))[1] != s:
            _bad(path, i, col, f"patient {p!r} is in split {s!r} here and in {first[p][1]!r} at row "
                 f"{first[p][0]} (line {first[p][0] + 2}): one patient, one split")
