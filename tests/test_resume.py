"""Interrupt and resume (issue 16): a CNN training job killed with SIGKILL mid-run, then the
same snakemake command run again, finishes and gives tables identical, byte for byte (timing
fields aside), to the uninterrupted run of the `pipeline_run` fixture (same config and seed).

Cost: one study's branch (rosenberg_xray: train x2, evaluate, cam, reproduction) on the tiny
cohort, trained once to the kill and once more on the rerun."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, TINY_YAML
from tests.table_compare import differences

TARGET = "results/rosenberg_xray/reproduction.csv"


def _command(workdir: Path) -> list[str]:
    # The target first: --configfile and --resources take several values and would swallow it.
    return [sys.executable, "-m", "snakemake", TARGET, "-s", str(REPO / "Snakefile"), "-d", str(workdir),
            "--configfile", str(REPO / "config.yaml"), str(TINY_YAML), "--cores", "2", "--resources", "gpu=0"]


def _job_pids(workdir: Path, needle: str) -> list[int]:
    """Python processes running `needle` (e.g. 'rosenberg_xray train') in `workdir`."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if needle in cmd and "snakemake" not in cmd and os.path.samefile(d / "cwd", workdir):
                pids.append(int(d.name))
        except (OSError, ValueError):
            continue
    return pids


@pytest.mark.slow
def test_sigkill_of_a_training_job_then_the_same_command_finishes_with_identical_tables(pipeline_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(pipeline_run, run, symlinks=True)  # copy2: mtimes kept, nothing else replans
    shutil.rmtree(run / "results" / "rosenberg_xray")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    proc = subprocess.Popen(_command(run), cwd=run, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    killed, deadline = [], time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:
            pids = _job_pids(run, "rosenberg_xray train")
            if pids:
                time.sleep(3)  # into the job: weights loaded, training under way
                for pid in _job_pids(run, "rosenberg_xray train"):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                break
            time.sleep(0.2)
        out, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert killed, "no training job seen to kill (it ended too soon?)"
    assert proc.returncode != 0, out[-3000:]
    # what the console says about it: the onerror summary names the log of the killed job
    assert "failed: " in out and "logs/rosenberg_xray/train_" in out, out[-3000:]

    again = subprocess.run(_command(run), cwd=run, env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    diff = differences(pipeline_run, run, "results/rosenberg_xray")
    assert not diff, diff
