"""Same config and seed -> byte-identical tables on one machine (issue 16).

The `pipeline_run` fixture's folder is copied and the statistical tail of every study is run
again (`--forcerun`: liu2025_dlr from ComBat on, i.e. harmonisation, selection, fusion,
classifier zoo, evaluation, SHAP and nomogram; every study's evaluation, reader study and
verdict; the report). Every table (csv, md, tex, json under results/, provenance records
aside) must equal the first run's byte for byte; a field that records run time (seconds,
wall_s, ...: tests/table_compare.py) is the only thing left out. CNN training is rerun, and
compared the same way, by tests/test_resume.py."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import run_snakemake
from tests.table_compare import differences, tables

TAIL = ["liu2025_dlr_combat", "xu2023_vcf_evaluate", "xu2023_vcf_reader_study", "qu2025_mil_evaluate",
        "qu2025_mil_reader_study", "wang2024_twostage_detection_eval", "wang2024_twostage_evaluate",
        "rosenberg_xray_evaluate", "reproduction_report"]


@pytest.mark.slow
def test_rerun_of_the_statistical_tail_gives_byte_identical_tables(pipeline_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(pipeline_run, run, symlinks=True)
    before = {k: p.stat().st_mtime_ns for k, p in tables(run).items()}
    run_snakemake(run, "--cores", "2", "--resources", "gpu=0", "--forcerun", *TAIL)
    rewritten = [k for k, p in tables(run).items() if p.stat().st_mtime_ns != before.get(k)]
    # the rerun really wrote the tables of every study (else the comparison shows nothing)
    for study in ("liu2025_dlr", "xu2023_vcf", "qu2025_mil", "wang2024_twostage", "rosenberg_xray"):
        assert any(k.startswith(f"results/{study}/") for k in rewritten), study
    diff = differences(pipeline_run, run)
    assert not diff, diff
