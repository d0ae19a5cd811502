"""liu2025_dlr cohort: the study's constants and its vertebra table.

Unit of analysis: one vertebra (manifest row), key ``<case_id>:<mask_label>``; patients
(case ids) never straddle folds or splits. Outputs carry case ids only.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vfrepro.errors import InputError

STUDY = "liu2025_dlr"
SPLITS = ("train", "internal", "external", "prospective")
SPLIT_NAMES = {"train": "training", "internal": "internal validation", "external": "external validation",
               "prospective": "prospective validation"}
BACKBONES = ("radimagenet", "imagenet")
BACKBONE_NAMES = {"radimagenet": "RadImageNet", "imagenet": "ImageNet"}
CLASSES = (0, 1, 2)
LABEL_COL = "astlof_class"
CLINICAL = ("age", "sex", "t_score", "pain")
# ASTLOF is the sum of morphology (CT), MRI signal, BMD (from the T-score) and pain scores: a
# variable below is part of the label's definition (config key: nomogram.clinical).
ASTLOF_COMPONENTS = {"t_score": "BMD score (astlof_bmd)", "pain": "pain score (astlof_pain)",
                     "astlof_morphology": "morphology score", "astlof_mri": "MRI score",
                     "astlof_bmd": "BMD score", "astlof_pain": "pain score", "astlof_total": "the total score"}
# Baseline variables of the paper's Table 1 the cohort table has that are not components.
BASELINE = ("age", "sex", "segment", "level")

CHOSEN: list[tuple[str, object, str]] = [
    ("cohort.segment", "thoracic (T*) / lumbar (L*) from the manifest level",
     "the paper's Table 1 'fracture location'; a baseline variable that is not an ASTLOF component"),
]


def segment(level) -> str:
    """Fracture location of a level name: thoracic (T*) or lumbar (L*), else the level's prefix."""
    s = str(level).strip().upper()
    return {"T": "thoracic", "L": "lumbar", "C": "cervical", "S": "sacral"}.get(s[:1], s[:1] or "unknown")


def key(df: pd.DataFrame) -> pd.Series:
    return df["case_id"].astype(str) + ":" + df["mask_label"].astype(int).astype(str)


def select_vertebrae(table: pd.DataFrame, vertebrae: str = "fractured") -> pd.DataFrame:
    """The manifest rows the study analyses: every row ("all") or fracture == 1 ("fractured",
    the paper's cohort of fractured vertebrae). The workflow uses it too, so that radiomics is
    extracted for exactly these vertebrae."""
    if vertebrae not in ("all", "fractured"):
        raise InputError(f"{STUDY}: vertebrae must be 'all' or 'fractured', not {vertebrae!r}", field="vertebrae")
    if vertebrae == "fractured":
        if "fracture" not in table.columns:
            raise InputError(f"manifest lacks column 'fracture' needed by {STUDY} (vertebrae: fractured)",
                             field="fracture")
        return table[table["fracture"] == 1]
    return table


def build_cohort(manifest: str, passed: str, preprocess_dir: str, label: str = "astlof_class",
                 vertebrae: str = "fractured") -> pd.DataFrame:
    """The study's vertebra table from the validated manifest and the cases that passed ingest."""
    m = pd.read_csv(manifest, dtype={"case_id": str, "site": str})
    ok = {line.strip() for line in Path(passed).read_text().splitlines() if line.strip()}
    need = ["case_id", "mask_label", "level", "site", "split", label, *CLINICAL, "mask_reader2_path", "fracture"]
    missing = [c for c in need if c not in m.columns]
    if missing:
        raise InputError(f"manifest lacks column(s) {missing} needed by {STUDY}", path=manifest, field=missing[0])
    m = select_vertebrae(m[m["case_id"].isin(ok)], vertebrae).copy()
    bad = m[m[label].isna()]
    if len(bad):
        r = bad.iloc[0]
        raise InputError(f"{len(bad)} vertebra row(s) have no {label}", case=r.case_id, path=manifest, field=label)
    bad = m[~m["split"].isin(SPLITS)]
    if len(bad):
        raise InputError(f"unknown split {bad.iloc[0].split!r}", case=bad.iloc[0].case_id, field="split")
    pre = Path(preprocess_dir)
    out = m[["case_id", "mask_label", "level", "site", "split", label, *CLINICAL]].copy()
    out = out.rename(columns={label: "label"})
    out["label"] = out["label"].astype(int)
    out.insert(out.columns.get_loc("level") + 1, "segment", [segment(v) for v in out["level"]])
    out["mask_label"] = out["mask_label"].astype(int)
    out["reader2"] = m["mask_reader2_path"].notna().to_numpy()
    out["image"] = [str(pre / c / "image.nii.gz") for c in out["case_id"]]
    out["mask"] = [str(pre / c / "mask_reader1.nii.gz") for c in out["case_id"]]
    out["mask_reader2"] = [str(pre / c / "mask_reader2.nii.gz") if r else "" for c, r in zip(out["case_id"], out["reader2"])]
    out.insert(0, "key", key(out))
    return out.sort_values("key").reset_index(drop=True)


def check_classes(cohort: pd.DataFrame) -> list[str]:
    """Warnings about classes missing from splits (the analysis goes on; metrics say n/a)."""
    notes = []
    for s in SPLITS:
        have = set(cohort.loc[cohort["split"] == s, "label"])
        lack = [c for c in CLASSES if c not in have]
        if lack:
            notes.append(f"split {s}: no vertebra of class(es) {lack}")
    return notes

