"""Each rule gets only the config it reads: after a finished run, changing reporting settings
plans only the jobs that read them (and those downstream), never training, deep features,
radiomics or the cohort stages."""

from __future__ import annotations

import pytest

from bench.bench_dag import planned_jobs
from tests.conftest import run_snakemake
from vfrepro import registry

OVERRIDE = """
liu2025_dlr:
  shap: {nsamples: 21}
xu2023_vcf:
  n_boot: 51
rosenberg_xray:
  cam: {per_group: 3}
wang2024_twostage:
  n_boot: 21
"""

EXPECTED = {
    "liu2025_dlr_shap": 2,           # one per backbone
    "xu2023_vcf_evaluate": 1,
    "xu2023_vcf_reader_study": 1,
    "rosenberg_xray_cam": 1,         # the tiny config draws CAMs of resnet18 only
    "wang2024_twostage_evaluate": 1,  # F1 bootstrap CIs only: no detector or classifier refit
    # The verdicts read the re-evaluated tables (xu, wang) and rosenberg's CAM-on-lesion share
    # (its CAM job reruns), and the summary reads the verdicts; SHAP feeds no verdict, so liu's
    # verdicts stay.
    "xu2023_vcf_reproduction": 1,
    "rosenberg_xray_reproduction": 1,
    "wang2024_twostage_reproduction": 1,
    "reproduction_report": 1,
    "provenance_config": 1,          # holds the whole resolved config: any change reruns it
    "provenance": len(registry.built()),  # one record per study (all enabled), after its outputs
    "all": 1,
}


@pytest.mark.slow
@pytest.mark.parametrize("triggers", [("--rerun-triggers", "params"), ()], ids=["params", "default"])
def test_reporting_settings_rerun_only_reporting_jobs(pipeline_run, triggers):
    proc = run_snakemake(pipeline_run, "-n", *triggers, extra_config=OVERRIDE)
    planned = planned_jobs(proc.stdout + proc.stderr)
    assert planned == EXPECTED, proc.stdout[-4000:]


@pytest.mark.slow
def test_unchanged_config_plans_nothing(pipeline_run):
    proc = run_snakemake(pipeline_run, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr
