# The only place that reads config and the cohort tables; rules call the functions below.
import json
import os
import shlex

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


def case_labels(case, table=None):
    """'label:level' pairs of a case's vertebrae (of `table`, default all that passed ingest)."""
    rows = (vertebrae() if table is None else table).query("case_id == @case")
    return ",".join(f"{int(r.mask_label)}:{r.level}" for r in rows.itertuples())


def reader2_cases(table=None):
    """Cases with a reader-2 mask (in `table`, default all that passed ingest)."""
    table = vertebrae() if table is None else table
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
        targets += expand("results/{study}/provenance/provenance.{ext}", study=study, ext=["json", "md"])
    return targets


# ---- rosenberg_xray: constants and input functions of workflow/rules/rosenberg_xray.smk ----

RX = "results/rosenberg_xray"
RX_CFG = config.get("rosenberg_xray", {})
RX_CFG_ARG = shlex.quote(json.dumps(RX_CFG, sort_keys=True))
RX_ARCHS = RX_CFG.get("archs", ["resnet18", "vgg16"])
RX_CAM_ARCHS = [a for a in RX_CFG.get("cam", {}).get("archs", ["resnet18"]) if a in RX_ARCHS]


def rx_targets():
    t = [f"{RX}/metrics.csv", f"{RX}/figure4_table.csv", f"{RX}/delong.json",
         f"{RX}/confusion_matrices.png", f"{RX}/roc.png"]
    t += expand(f"{RX}/{{arch}}/cv_summary.csv", arch=RX_ARCHS)
    t += expand(f"{RX}/cam_{{arch}}.png", arch=RX_CAM_ARCHS)
    return t


STUDY_TARGETS["rosenberg_xray"] = rx_targets


# ---- xu2023_vcf: constants and input functions of workflow/rules/xu2023_vcf.smk ----

XU = "results/xu2023_vcf"
XU_CFG = config.get("xu2023_vcf", {})
XU_CFG_ARG = shlex.quote(json.dumps(XU_CFG, sort_keys=True))
XU_ARCH = XU_CFG.get("arch", "resnet18")


def xu_targets():
    return [f"{XU}/table2.csv", f"{XU}/table2.md", f"{XU}/roc_curves.png",
            f"{XU}/confusion_matrices.png", f"{XU}/reader_study.csv", f"{XU}/reader_study.md"]


STUDY_TARGETS["xu2023_vcf"] = xu_targets


# ---- liu2025_dlr: constants and input functions of workflow/rules/liu2025_dlr.smk ----

LIU = "results/liu2025_dlr"
LIU_CFG = config.get("liu2025_dlr", {})
LIU_CFG_ARG = shlex.quote(json.dumps(LIU_CFG, sort_keys=True))
LIU_BACKBONES = ["radimagenet", "imagenet"]


wildcard_constraints:
    backbone="radimagenet|imagenet",
    reader="[12]",


def liu_vertebrae():
    """The passed-ingest vertebrae that liu2025_dlr analyses (its `vertebrae` setting)."""
    from vfrepro.studies.liu2025_dlr import select_vertebrae

    return select_vertebrae(vertebrae(), LIU_CFG.get("vertebrae", "fractured"))


def liu_radiomics_files(wildcards):
    table = liu_vertebrae()
    files = expand(f"{LIU}/radiomics/{{case}}_reader1.csv", case=sorted(table["case_id"].unique()))
    files += expand(f"{LIU}/radiomics/{{case}}_reader2.csv", case=reader2_cases(table))
    return files


def liu_targets():
    t = [f"{LIU}/table3.csv", f"{LIU}/table3.md", f"{LIU}/table3.tex", f"{LIU}/delong.csv",
         f"{LIU}/nomogram.png", f"{LIU}/calibration.png"]
    t += expand(f"{LIU}/roc_{{b}}.png", b=LIU_BACKBONES)
    t += expand(f"{LIU}/shap/{{b}}_{{kind}}_class{{k}}.png", b=LIU_BACKBONES,
                kind=["bar", "beeswarm", "decision"], k=[0, 1, 2])
    return t


STUDY_TARGETS["liu2025_dlr"] = liu_targets


# ---- provenance: constants and input functions of workflow/rules/provenance.smk ----

PROVENANCE_CONFIG = "results/provenance/config.resolved.json"


wildcard_constraints:
    study="|".join(STUDIES),


# A printf: not worth a cluster job.
