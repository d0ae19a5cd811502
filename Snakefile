# vfrepro: published vertebral-fracture AI studies, reproduced from raw DICOM.
# Thin on purpose: config and its schema, one include per stage, one target.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/cohort.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/qc.smk"
include: "workflow/rules/rosenberg_xray.smk"
include: "workflow/rules/xu2023_vcf.smk"
include: "workflow/rules/liu2025_dlr.smk"
include: "workflow/rules/provenance.smk"


rule all:
    input:
        get_final_output,
    default_target: True
