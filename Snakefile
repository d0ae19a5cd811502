# vfrepro: published vertebral-fracture AI studies, reproduced from raw DICOM.
# Thin on purpose: config and its schema, one include per stage, one target.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/cohort.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/qc.smk"


rule all:
    input:
        get_final_output,
    default_target: True
