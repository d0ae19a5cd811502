import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata"


@pytest.fixture(scope="session")
def realdata() -> Path:
    """../shared/realdata, the real images of the project (required in CI)."""
    if not REALDATA.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{REALDATA} missing in CI")
        pytest.skip(f"real test images not found at {REALDATA}")
    return REALDATA


def require_tool(name: str) -> str:
    """Path of a system tool; skip (or fail under CI=true) when it is missing."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is required in CI (tests/setup_system.sh installs it)")
        pytest.skip(f"{name} not installed (make system-deps)")
    return path


# A tiny cohort through the real DAG, shared by the end-to-end tests of every stage and study.
# Studies add their small-size overrides here so that the run stays within minutes on 2 cores.
TINY_CONFIG = """
cohort:
  synthetic:
    n_patients: 20
    seed: 7
liu2025_dlr:
  evaluate: {n_boot: 20}
  shap: {max_cases: 5, background: 3, nsamples: 20}
  select: {lasso_folds: 3}
  classify: {cv_folds: 3, grids: {LR: {C: [1.0]}, RF: {n_estimators: [20]}, KNN: {n_neighbors: [3]}}}
  deep: {n_slices: 1, finetune_epochs: 0}
rosenberg_xray:
  input_size: 32
  train: {epochs: 1, batch_size: 16}
  cv: {folds: 2, grid: {lr: [0.001]}}
  cam: {archs: [resnet18], per_group: 2}
  arch_overrides: {vgg16: {train: {epochs: 1}}}
xu2023_vcf:
  input_size: 32
  train: {epochs: 1, batch_size: 16}
  n_boot: 50
"""


def run_snakemake(workdir: Path, *args: str, check: bool = True, extra_config: str = ""):
    """Run the repo's Snakefile in `workdir` on the repo's config.yaml overlaid with the tiny
    config (plus `extra_config` YAML); give the CompletedProcess."""
    import subprocess
    import sys

    (workdir / "tiny.yaml").write_text(TINY_CONFIG + extra_config)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--configfile", str(REPO / "config.yaml"), str(workdir / "tiny.yaml"), *args]
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory) -> Path:
    """The working directory of one complete `snakemake --cores 2` run on the tiny cohort."""
    workdir = tmp_path_factory.mktemp("e2e")
    run_snakemake(workdir, "--cores", "2", "--resources", "gpu=0")
    return workdir
