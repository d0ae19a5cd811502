"""The cohort manifest: schema validation, study requirements and pseudonymisation.

The manifest is the one door for real and synthetic cohorts. `load_manifest` checks it
completely before any compute is spent and returns a table keyed by `case_id` (a salted
pseudonym) with absolute paths and without `patient_id`.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import jsonschema
import pandas as pd
import yaml

from vfrepro import registry
from vfrepro.deid import DEFAULT_SALT, case_id
from vfrepro.errors import InputError

# Columns each study branch reads (the registry's manifest_columns, src/vfrepro/data/studies.yaml).
# A cohort that lacks one fails before work starts.
STUDY_COLUMNS: dict[str, tuple[str, ...]] = {s.name: s.manifest_columns for s in registry.studies()}

# Columns that may legitimately be blank on some rows even for a study that needs them
# (only a subset of patients has a second reader).
PARTIAL_COLUMNS = {"mask_reader2_path"}

PATH_COLUMNS = ("dicom_dir", "mask_path", "mask_reader2_path", "lesion_path", "xray_lateral_path",
                "xray_ap_path")

# Per-patient attributes: every row of one patient must agree on them.
PATIENT_COLUMNS = ("site", "split", "dicom_dir", "mask_path", "mask_reader2_path", "lesion_path")

# Files that belong to one patient: the same one under two patient ids (e.g. in train and in an
# external split) is leakage, refused.
OWN_FILE_COLUMNS = ("dicom_dir", "mask_path", "mask_reader2_path", "lesion_path")


def _shown(raw, base: Path) -> str | None:
    """How a manifest path may appear in a message: relative to the manifest's folder, or not at
    all (an absolute cohort path may carry a patient's name)."""
    try:
        return (base / str(raw)).resolve().relative_to(base).as_posix()
    except ValueError:
        return None


def manifest_schema() -> dict:
    """The JSON schema of one manifest row (package data, shared with the docs)."""
    text = resources.files("vfrepro.data").joinpath("manifest.schema.yaml").read_text()
    return yaml.safe_load(text)


def _row_to_json(row: pd.Series, schema: dict) -> dict:
    """Turn a CSV row into JSON types: blanks -> None, integral floats -> int where the schema says."""
    out = {}
    props = schema["properties"]
    for key, value in row.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            out[key] = None
            continue
        types = props.get(key, {}).get("type", [])
        types = [types] if isinstance(types, str) else types
        if "integer" in types and isinstance(value, float) and value.is_integer():
            value = int(value)
        elif "string" in types and not isinstance(value, str):
            value = str(value)
        out[key] = value
    return out


def _first_schema_error(validator, record: dict):
    errors = sorted(validator.iter_errors(record), key=lambda e: list(e.path))
    return errors[0] if errors else None


def load_manifest(path: str | Path, studies: list[str] | tuple[str, ...] = (),
                  salt: str = DEFAULT_SALT, check_files: bool = True) -> pd.DataFrame:
    """Read and check a manifest CSV; give a per-vertebra table keyed by pseudonymous case_id.

    Raises InputError naming the row, the case, the field and the file at the first problem
    class found (all rows of that class are listed), so a user fixes the manifest before
    hours of compute are spent.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("manifest not found", path=str(path))
    df = pd.read_csv(path, dtype={"patient_id": str, "site": str, "level": str})
    if df.empty:
        raise InputError("manifest has no rows", path=str(path))
    schema = manifest_schema()

    missing_required = [c for c in schema["required"] if c not in df.columns]
    if missing_required:
        raise InputError(f"manifest lacks required column(s) {missing_required}", path=str(path))
    for study in studies:
        if study not in STUDY_COLUMNS:
            raise InputError(f"unknown study '{study}'; known: {sorted(STUDY_COLUMNS)}")
        lacking = [c for c in STUDY_COLUMNS[study] if c not in df.columns]
        if lacking:
            raise InputError(f"study {study} needs column(s) {lacking}, which the cohort "
                             f"manifest lacks", path=str(path), field=lacking[0])

    df["case_id"] = [case_id(p, salt) for p in df["patient_id"].astype(str)]
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for i, row in df.iterrows():
        record = _row_to_json(row.drop(labels=["case_id"]), schema)
        err = _first_schema_error(validator, record)
        if err is not None:
            field = err.path[0] if err.path else (err.message.split("'")[1] if "'" in err.message else "?")
            problems.append(f"row {i + 2} (case {row['case_id']}): field '{field}': {err.message}")
    if problems:
        raise InputError("manifest rows fail the schema:\n  " + "\n  ".join(problems[:50]),
                         path=str(path))

    for study in studies:
        needed = [c for c in STUDY_COLUMNS[study] if c not in PARTIAL_COLUMNS]
        blank = df[needed].isna()
        if blank.any().any():
            col = blank.any()[lambda s: s].index[0]
            rows = (blank[col][blank[col]].index + 2).tolist()[:10]
            raise InputError(f"study {study} needs column '{col}', blank in manifest rows {rows}",
                             path=str(path), field=col)

    # One value per patient for per-patient columns; one row per (patient, level).
    for col in [c for c in PATIENT_COLUMNS if c in df.columns]:
        n = df.groupby("case_id")[col].nunique(dropna=False)
        bad = n[n > 1].index.tolist()
        if bad:
            raise InputError(f"column '{col}' differs between rows of the same patient", case=bad[0],
                             path=str(path), field=col)
    dup = df.duplicated(["case_id", "level"])
    if dup.any():
        i = int(dup.idxmax())
        raise InputError(f"level {df.at[i, 'level']} listed twice (row {i + 2})",
                         case=df.at[i, "case_id"], path=str(path), field="level")

    base = path.resolve().parent
    for col in [c for c in PATH_COLUMNS if c in df.columns]:
        raw = df[col].copy()
        df[col] = [None if (isinstance(v, float) and math.isnan(v)) or v is None
                   else str((base / str(v)).resolve()) for v in df[col]]
        if check_files:
            for i, v in df[col].items():
                if v is not None and not Path(v).exists():
                    raise InputError(f"{col} does not exist (row {i + 2})", case=df.at[i, "case_id"],
                                     path=_shown(raw[i], base), field=col)
    for col in [c for c in OWN_FILE_COLUMNS if c in df.columns]:
        owners = df.dropna(subset=[col]).groupby(col)["case_id"].unique()
        shared = owners[owners.map(len) > 1]
        if len(shared):
            cases_ = sorted(shared.iloc[0])
            rows = (df.index[df[col] == shared.index[0]] + 2).tolist()[:10]
            raise InputError(f"the same {col} is given for {len(cases_)} patients ({', '.join(cases_)}; "
                             f"rows {rows}): one patient's images under two ids leak between splits",
                             case=cases_[0], path=str(path.name), field=col)

    df = df.drop(columns=["patient_id"])
    front = ["case_id"] + [c for c in df.columns if c != "case_id"]
    return df[front].sort_values(["case_id", "mask_label"], kind="stable").reset_index(drop=True)


def cases(manifest: pd.DataFrame) -> pd.DataFrame:
    """One row per case (patient series) with the per-patient columns."""
    cols = ["case_id"] + [c for c in PATIENT_COLUMNS if c in manifest.columns]
    return manifest[cols].drop_duplicates("case_id").reset_index(drop=True)
