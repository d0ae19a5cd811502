"""The cohort manifest: schema validation, study requirements and pseudonymisation.

The manifest is the one door for real and synthetic cohorts. `load_manifest` checks it
completely before any compute is spent and returns a table keyed by `case_id` (a salted
pseudonym) with absolute paths and without `patient_id`.
"""

from __future__ import annotations

import math
import re
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


# Site names become file names and workflow wildcards (results/qc/montage_<site>.png): only
# letters, digits, '_' and '-' (the schema's pattern and common.smk's wildcard constraint).
SITE_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")


def study_availability(columns, studies, required=()) -> tuple[list[str], dict[str, list[str]]]:
    """Which of `studies` the manifest's `columns` can feed: (kept, {skipped study: its missing
    columns}). A study in `required` is kept even when it lacks columns (load_manifest then
    refuses the manifest, naming them)."""
    have = set(columns)
    kept, skipped = [], {}
    for study in studies:
        if study not in STUDY_COLUMNS:
            raise InputError(f"unknown study '{study}'; known: {sorted(STUDY_COLUMNS)}")
        lacking = [c for c in STUDY_COLUMNS[study] if c not in have]
        if lacking and study not in required:
            skipped[study] = lacking
        else:
            kept.append(study)
    return kept, skipped


def skip_line(skipped: dict[str, list[str]]) -> str:
    """The one line that says which studies a cohort cannot feed and why (all at once)."""
    return ("studies skipped: the manifest lacks their columns: "
            + "; ".join(f"{s} ({', '.join(cols)})" for s, cols in skipped.items())
            + " (list a study in config cohort.required_studies to make this an error)")


def analysed_rows(study: str, df: pd.DataFrame, cfg: dict | None = None) -> pd.Series:
    """Boolean Series: the rows a study analyses. liu2025_dlr: its `vertebrae` setting
    (fractured vertebrae by default); the other studies: every row."""
    if study == "liu2025_dlr":
        if (cfg or {}).get("vertebrae", "fractured") == "fractured":
            if "fracture" not in df.columns:
                return pd.Series(False, index=df.index)
            return df["fracture"] == 1
    return pd.Series(True, index=df.index)


# Per study: the config section whose `covariates` its ComBat step preserves, and the
# covariates it treats as categorical although numeric.
COMBAT_COVARIATES = {"liu2025_dlr": ("combat", ("sex",))}


# The config keys of each study that manifest validation reads (validate-manifest --study-config).
MANIFEST_CONFIG_KEYS = {"liu2025_dlr": ("vertebrae", "combat.covariates")}


def study_check_config(config: dict, studies) -> dict:
    """{study: the part of its config section named in MANIFEST_CONFIG_KEYS, nested}."""
    out = {}
    for study in studies:
        picked = registry.pick(config.get(study) or {}, MANIFEST_CONFIG_KEYS.get(study, ()))
        if picked:
            out[study] = picked
    return out


def load_manifest(path: str | Path, studies: list[str] | tuple[str, ...] = (),
                  salt: str = DEFAULT_SALT, check_files: bool = True, required=None,
                  study_config: dict | None = None, check_masks: bool | None = None) -> pd.DataFrame:
    """Read and check a manifest CSV; give a per-vertebra table keyed by pseudonymous case_id.

    Raises InputError naming the row, the case, the field and the file at the first problem
    class found (all rows of that class are listed), so a user fixes the manifest before
    hours of compute are spent.

    `required`: the studies of `studies` that must run (None: all of them). A study outside it
    whose columns the manifest lacks is skipped: listed in ``table.attrs["skipped_studies"]``
    ({study: missing columns}) and ``table.attrs["notes"]``. `study_config`: {study: config
    section}, for the rows a study analyses and its ComBat covariates. `check_masks` (default:
    `check_files`): read every mask (labels, NaN, region against the DICOM series).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("manifest not found", path=path.name)
    from vfrepro.io_safety import read_csv  # zero-byte, semicolon, unparsable: one line
    df = read_csv(path, what="manifest", dtype={"patient_id": str, "site": str, "level": str})
    if df.empty:
        raise InputError("manifest has no rows", path=path.name)
    schema = manifest_schema()

    missing_required = [c for c in schema["required"] if c not in df.columns]
    if missing_required:
        raise InputError(f"manifest lacks required column(s) {missing_required}", path=path.name)
    studies, skipped = study_availability(df.columns, studies, studies if required is None else required)
    notes = [skip_line(skipped)] if skipped else []
    missing = {s: [c for c in STUDY_COLUMNS[s] if c not in df.columns] for s in studies}
    missing = {s: cols for s, cols in missing.items() if cols}
    if missing:
        first = next(iter(missing.values()))[0]
        raise InputError("required " + "; ".join(f"study {s} needs column(s) {cols}" for s, cols
                                                  in missing.items()) + ", which the cohort manifest lacks",
                         path=path.name, field=first)
    study_config = study_config or {}

    sites = df["site"].dropna().astype(str)
    bad_sites = sorted(set(sites[~sites.map(lambda v: bool(SITE_PATTERN.match(v)))]))
    if bad_sites:
        rows = (sites.index[sites.isin(bad_sites)] + 2).tolist()[:10]
        raise InputError(f"site name(s) {bad_sites} (rows {rows}) have characters other than letters, "
                         f"digits, '_' and '-': site names become file names (results/qc/montage_<site>.png) "
                         f"and workflow wildcards; rename them, e.g. "
                         f"{re.sub(r'[^A-Za-z0-9_-]+', '_', bad_sites[0]).strip('_') or 'site1'!r}",
                         case=case_id(str(df.at[rows[0] - 2, "patient_id"]), salt),
                         path=path.name, field="site")

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
                         path=path.name)

    for study in studies:
        # ComBat's covariates first: their message names the config key.
        section_key, categorical = COMBAT_COVARIATES.get(study, (None, ()))
        covariates = (study_config.get(study, {}).get(section_key) or {}).get("covariates") or []
        rows_ = analysed_rows(study, df, study_config.get(study))
        if covariates and rows_.any():
            from vfrepro.harmonize.checks import check_covariates
            sub = df[rows_]
            check_covariates(sub, list(covariates), sub["split"] == "train",
                             config_key=f"{study}.{section_key}.covariates", categorical=categorical,
                             path=path.name)
        needed = [c for c in STUDY_COLUMNS[study] if c not in PARTIAL_COLUMNS]
        # A study needs its columns only on the rows it analyses (liu2025_dlr: fractured
        # vertebrae); the column that selects them is needed on every row.
        selector = ["fracture"] if (study == "liu2025_dlr" and "fracture" in needed and
                                    (study_config.get(study) or {}).get("vertebrae", "fractured") == "fractured") else []
        blank = df[needed].isna().apply(lambda c: c & rows_)
        for col in selector:
            blank[col] = df[col].isna()
        if blank.any().any():
            col = blank.any()[lambda s: s].index[0]
            rows = (blank[col][blank[col]].index + 2).tolist()[:10]
            which = (" (it selects the vertebrae the study analyses)" if col in selector
                     else "" if rows_.all() else " on a row the study analyses")
            raise InputError(f"study {study} needs column '{col}'{which}, blank in manifest rows {rows}",
                             case=df.at[rows[0] - 2, "case_id"], path=path.name, field=col)

    # One value per patient for per-patient columns; one row per (patient, level).
    for col in [c for c in PATIENT_COLUMNS if c in df.columns]:
        n = df.groupby("case_id")[col].nunique(dropna=False)
        bad = n[n > 1].index.tolist()
        if bad:
            raise InputError(f"column '{col}' differs between rows of the same patient", case=bad[0],
                             path=path.name, field=col)
    dup = df.duplicated(["case_id", "level"])
    if dup.any():
        i = int(dup.idxmax())
        raise InputError(f"level {df.at[i, 'level']} listed twice (row {i + 2})",
                         case=df.at[i, "case_id"], path=path.name, field="level")
    dup = df.duplicated(["case_id", "mask_label"], keep=False)
    if dup.any():
        i = int(dup.idxmax())
        twins = df[dup & (df["case_id"] == df.at[i, "case_id"]) & (df["mask_label"] == df.at[i, "mask_label"])]
        raise InputError(f"mask_label {df.at[i, 'mask_label']} given for levels "
                         f"{', '.join(map(str, twins['level']))} of one patient (rows "
                         f"{(twins.index + 2).tolist()}): each level needs its own label",
                         case=df.at[i, "case_id"], path=path.name, field="mask_label")

    base = path.resolve().parent
    df_raw = {}
    for col in [c for c in PATH_COLUMNS if c in df.columns]:
        raw = df_raw[col] = df[col].copy()
        df[col] = [None if (isinstance(v, float) and math.isnan(v)) or v is None
                   else str((base / str(v)).resolve()) for v in df[col]]
        if check_files:
            for i, v in df[col].items():
                if v is not None and not Path(v).exists():
                    raise InputError(f"{col} does not exist (row {i + 2})", case=df.at[i, "case_id"],
                                     path=_shown(raw[i], base), field=col)
                if v is not None and col == "dicom_dir" and not Path(v).is_dir():
                    # a file here (e.g. the mask) would reach ingest as an empty series
                    raise InputError(f"{col} is a file, not a folder of DICOM files (row {i + 2})",
                                     case=df.at[i, "case_id"], path=_shown(raw[i], base), field=col)
    for col in [c for c in OWN_FILE_COLUMNS if c in df.columns]:
        owners = df.dropna(subset=[col]).groupby(col)["case_id"].unique()
        shared = owners[owners.map(len) > 1]
        if len(shared):
            cases_ = sorted(shared.iloc[0])
            rows = (df.index[df[col] == shared.index[0]] + 2).tolist()[:10]
            raise InputError(f"the same {col} is given for {len(cases_)} patients ({', '.join(cases_)}; "
                             f"rows {rows}): one patient's images under two ids leak between splits",
                             case=cases_[0], path=path.name, field=col)

    if check_files if check_masks is None else check_masks:
        from vfrepro.cohort.mask_checks import check_masks as _check_masks  # SimpleITK: only here
        raws = {c: df_raw[c] for c in df_raw}
        notes += _check_masks(df, lambda col, i: _shown(raws[col][i], base))

    df = df.drop(columns=["patient_id"])
    front = ["case_id"] + [c for c in df.columns if c != "case_id"]
    out = df[front].sort_values(["case_id", "mask_label"], kind="stable").reset_index(drop=True)
    out.attrs["skipped_studies"] = skipped
    out.attrs["studies"] = list(studies)
    out.attrs["notes"] = notes
    return out


def cases(manifest: pd.DataFrame) -> pd.DataFrame:
    """One row per case (patient series) with the per-patient columns."""
    cols = ["case_id"] + [c for c in PATIENT_COLUMNS if c in manifest.columns]
    return manifest[cols].drop_duplicates("case_id").reset_index(drop=True)
