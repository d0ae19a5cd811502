# The only place that reads config and the cohort tables; rules call the functions below.
import os

import pandas as pd
from snakemake.utils import validate


validate(config, "../schemas/config.schema.yaml")

SYNTH = config["cohort"]["synthetic"]
# Holds the cohort's own paths, which may name patients: kept out of results/, which is shared.
VALIDATED_MANIFEST = "resources/cohort/manifest.validated.csv"

# One paper = one branch: its name is its rule file, its config section, its results/ folder
# and its report category. A branch's rule file registers its targets in STUDY_TARGETS.
STUDIES = ["liu2025_dlr", "qu2025_mil", "rosenberg_xray", "xu2023_vcf", "wang2024_twostage"]
STUDY_TARGETS = {}


def enabled_studies():
    return [s for s in STUDIES if config.get(s, {}).get("enabled", False)]


wildcard_constraints:
    case=r"c[0-9a-f]{10}",
    site=r"[A-Za-z0-9_-]+",


def raw_manifest():
    """The cohort's manifest: generated (synthetic) or the user's."""
    if config["cohort"]["source"] == "synthetic":
        return f"{SYNTH['out']}/manifest.csv"
    if not config["cohort"]["manifest"]:
        raise ValueError("config cohort.source is 'manifest' but cohort.manifest is empty")
    return config["cohort"]["manifest"]


def ok_cases():
    """Case ids that passed ingest QC (evaluated after the ingest gate checkpoint)."""
    with checkpoints.ingest_gate.get().output.cases.open() as fh:
        return [line.strip() for line in fh if line.strip()]


def vertebrae():
    """The validated per-vertebra manifest of the cases that passed ingest."""
    table = pd.read_csv(VALIDATED_MANIFEST, dtype={"case_id": str, "site": str})
    return table[table["case_id"].isin(ok_cases())]


def case_row(case):
    """The per-case attributes (first vertebra row) of one case."""
    return vertebrae().query("case_id == @case").iloc[0]


def case_labels(case):
    """'label:level' pairs of a case's vertebrae, for preprocess's mask checks."""
    rows = vertebrae().query("case_id == @case")
    return ",".join(f"{int(r.mask_label)}:{r.level}" for r in rows.itertuples())


def reader2_cases():
    table = vertebrae()
    return sorted(table.loc[table["mask_reader2_path"].notna(), "case_id"].unique())


def sites():
    return sorted(vertebrae()["site"].unique())


def site_cases(site):
    table = vertebrae()
    return sorted(table.loc[table["site"] == site, "case_id"].unique())


def get_final_output(wildcards):
    """Everything the default target builds; grows by one line per stage or study."""
    cases = ok_cases()
    targets = ["results/ingest/qc.csv"]
    targets += expand("results/preprocess/{case}/summary.json", case=cases)
    targets += expand("results/preprocess/{case}/mask_reader2.nii.gz", case=reader2_cases())
    targets += expand("results/qc/montage_{site}.png", site=sites())
    for study in enabled_studies():
        targets += STUDY_TARGETS[study]()
    return targets
