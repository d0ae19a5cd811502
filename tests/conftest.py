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


# A tiny cohort through the real DAG, shared by the end-to-end tests of every stage and study:
# tests/data/tiny.yaml (studies add their small-size overrides there).
TINY_YAML = REPO / "tests" / "data" / "tiny.yaml"
TINY_CONFIG = TINY_YAML.read_text()


def run_snakemake(workdir: Path, *args: str, check: bool = True, extra_config: str = ""):
    """Run the repo's Snakefile in `workdir` on the repo's config.yaml overlaid with the tiny
    config (tests/data/tiny.yaml) and then `extra_config` (YAML, merged key by key as Snakemake
    merges config files); give the CompletedProcess."""
    import subprocess
    import sys

    configs = [str(REPO / "config.yaml"), str(TINY_YAML)]
    if extra_config:
        (workdir / "extra.yaml").write_text(extra_config)
        configs.append(str(workdir / "extra.yaml"))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--configfile", *configs, *args]
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
