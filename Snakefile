# vfrepro: published vertebral-fracture AI studies, reproduced from raw DICOM.
# Thin on purpose: config and its schema, the shared stages, one rule folder per study of the
# registry (src/vfrepro/data/studies.yaml), one target.
from snakemake.utils import min_version

from vfrepro import registry

min_version("9.0")


configfile: "config.yaml"
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/cohort.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/qc.smk"


# Each built study: workflow/rules/studies/<study>/common.smk (constants, input functions,
# targets) and rules.smk (rules <study>_<stage>).
for _study in registry.built():

    include: f"workflow/rules/studies/{_study}/common.smk"
    include: f"workflow/rules/studies/{_study}/rules.smk"


include: "workflow/rules/provenance.smk"
include: "workflow/rules/reproduction.smk"


rule all:
    input:
        get_final_output,
    default_target: True


# On failure, print each failed job's log and its first error line (Snakemake itself says
# only "check log file(s)"); `log` is the run's main log.
onerror:
    from vfrepro.rule_failures import print_failures

    print_failures(log)
