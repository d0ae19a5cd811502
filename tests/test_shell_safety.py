"""Nothing from config or a manifest reaches a shell unquoted (issue 16): a config value with
`;` and a manifest path with spaces and non-ASCII letters come out as single quoted words."""

import os
import shlex
import time

import pytest

from tests.conftest import run_snakemake

EVIL = "CT; touch INJECTED"


def _config(manifest):
    return (f"cohort: {{source: manifest, manifest: {str(manifest)!r}}}\n"
            f"ingest: {{modality: {EVIL!r}, exclude_failed: true}}\n")


@pytest.fixture
def workdir(tmp_path):
    folder = tmp_path / "Kohorte Müller ñ (2024)"
    folder.mkdir()
    manifest = folder / "mani fest é.csv"
    manifest.write_text("patient_id\n")
    (tmp_path / "run").mkdir()
    return tmp_path / "run", manifest


def test_dry_run_prints_quoted_commands(workdir):
    run, manifest = workdir
    # --workflow-profile none: the default profile (quiet: [rules]) hides the printed commands
    proc = run_snakemake(run, "-n", "-p", "--workflow-profile", "none", "results/ingest/qc.csv",
                         extra_config=_config(manifest))
    out = proc.stdout + proc.stderr
    validate = next(line for line in out.splitlines() if "vfrepro validate-manifest" in line)
    ingest = next(line for line in out.splitlines() if "vfrepro ingest " in line)
    assert shlex.split(validate)[shlex.split(validate).index("--manifest") + 1] == str(manifest)
    words = shlex.split(ingest)
    assert words[words.index("--modality") + 1] == EVIL
    assert not (run / "INJECTED").exists()


def test_ingest_rule_runs_with_the_value_as_one_argument(workdir):
    run, manifest = workdir
    validated = run / "resources" / "cohort" / "manifest.validated.csv"
    validated.parent.mkdir(parents=True)
    validated.write_text(f"case_id,site,dicom_dir\nc0000000001,A,{run / 'absent'}\n")
    os.utime(manifest, (time.time() - 100,) * 2)  # validated after the raw one: only ingest runs
    proc = run_snakemake(run, "--cores", "1", "results/ingest/qc.csv",
                         check=False, extra_config=_config(manifest))
    assert not (run / "INJECTED").exists(), proc.stderr[-2000:]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "failed" in (run / "results" / "ingest" / "qc.csv").read_text()
