"""The real DAG on a real single-node SLURM, through Snakemake's SLURM executor plugin.

Starts munge, slurmctld and slurmd on localhost (tests/cluster/slurm.py), runs the tiny cohort
with `--executor slurm` and a profile derived from profiles/slurm (same rules, GPU rules as
`gpu=1` against a /dev/null gpu gres; sizes clamped to this node), and checks that the tables
are the ones of the local run (`pipeline_run`). Every daemon is stopped by pid, even on failure.

Runs when root with apt, under CI=true (where it must run) or with VFREPRO_CLUSTER_TEST=1:
it installs Debian's slurm-wlm and munge and writes /etc/slurm/slurm.conf while it runs, which
a developer's machine should not get by surprise.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import REPO, run_snakemake

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

PACKAGES = ("slurm-wlm", "munge")
TOOLS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "srun", "scontrol")
IN_CI = os.environ.get("CI") == "true"


def _skip_or_fail(message: str, must_run: bool) -> None:
    if must_run:
        pytest.fail(message)
    pytest.skip(message)


def ensure_slurm() -> None:
    """Skip unless this machine may host a throw-away SLURM; install slurm-wlm and munge."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("the SLURM test needs root and apt-get (it starts slurm-wlm and munge by hand)")
    if not (IN_CI or os.environ.get("VFREPRO_CLUSTER_TEST") == "1"):
        pytest.skip("the SLURM test runs under CI=true or VFREPRO_CLUSTER_TEST=1 (it installs "
                    "slurm-wlm/munge and writes /etc/slurm/slurm.conf while it runs)")
    if any(shutil.which(t) is None for t in TOOLS):
        cmd = ["apt-get", "install", "-y", "-o", "DPkg::Lock::Timeout=900", *PACKAGES]
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:  # a fresh image may not have package lists yet
            subprocess.run(["apt-get", "update"], capture_output=True, env=env)
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        missing = [t for t in TOOLS if shutil.which(t) is None]
        if proc.returncode != 0 or missing:
            _skip_or_fail(f"could not install {PACKAGES} (missing {missing}):\n{proc.stderr[-2000:]}",
                          must_run=True)
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        _skip_or_fail("snakemake-executor-plugin-slurm is not installed (pip install -e .)", IN_CI)


def slurm_profile(cluster_root: Path, node_cpus: int, node_mem_mb: int) -> Path:
    """profiles/slurm/config.yaml with its sizes clamped to the one test node."""
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    cap_mem = node_mem_mb // (2 * node_cpus)
    for res in [profile["default-resources"], *profile["set-resources"].values()]:
        if "mem_mb" in res:
            res["mem_mb"] = min(res["mem_mb"], cap_mem)
        if "runtime" in res:
            res["runtime"] = min(res["runtime"], 30)
    # Rules the profile does not name keep their own mem_mb (at most 8 GB: fits the node).
    # Threads as in the local run (the rules' own, at most the node's CPUs): torch and BLAS sums
    # may differ in the last bits with another thread count, and the tables must be identical.
    profile.pop("set-threads", None)
    profile["max-threads"] = node_cpus
    profile["jobs"] = 8
    profile["latency-wait"] = 5
    profile["slurm-init-seconds-before-status-checks"] = 2
    profile["keep-going"] = False
    out = cluster_root / "profile"
    out.mkdir(exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return out




def gpu_declared_rules() -> set[str]:
    """Rules that ask for a GPU: `gpu=N` (N > 0) in their rule file or in profiles/slurm."""
    rules = set()
    for path in (REPO / "workflow/rules").rglob("*.smk"):
        text = path.read_text()
        starts = list(re.finditer(r"^(?:rule|checkpoint)\s+(\w+)\s*:", text, re.M))
        for i, m in enumerate(starts):
            block = text[m.end(): starts[i + 1].start() if i + 1 < len(starts) else len(text)]
            if re.search(r"^\s+gpu\s*=\s*[1-9]", block, re.M):
                rules.add(m.group(1))
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    rules |= {r for r, res in profile.get("set-resources", {}).items() if res.get("gpu")}
    return rules


def _rule_of(job_line: str) -> str | None:
    """The rule of a `scontrol -o show job` line (the plugin's comment: rule_<rule>[_wildcards_...])."""
    match = re.search(r"Comment=rule_(\w+?)(?:_wildcards_\S*)?\s", job_line + " ")
    return match.group(1) if match else None


def _tables(workdir: Path) -> dict[str, Path]:
    found = {"results/ingest/qc.csv": workdir / "results/ingest/qc.csv"}
    studies = [p for p in (workdir / "results").iterdir()
               if p.is_dir() and p.name not in ("ingest", "preprocess", "qc")]
    for study in studies:
        for path in sorted(study.rglob("*.csv")):
            found[str(path.relative_to(workdir))] = path
    return found


# Wall-clock columns of training logs (e.g. `seconds` per epoch) differ between any two runs.
TIMING = re.compile(r"(^|_)(seconds|secs|elapsed|wall|time)(_s)?$|_s$|^s_", re.I)


def _same_table(a: Path, b: Path) -> str | None:
    """None when identical (bytes, else numerically within 1e-9, timing columns aside);
    otherwise what differs."""
    if a.read_bytes() == b.read_bytes():
        return None
    ta, tb = pd.read_csv(a), pd.read_csv(b)
    if list(ta.columns) != list(tb.columns) or ta.shape != tb.shape:
        return f"shape/columns {ta.shape} vs {tb.shape}"
    for col in ta.columns:
        if TIMING.search(str(col)):
            continue
        x, y = ta[col], tb[col]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            if not np.allclose(x.to_numpy(float), y.to_numpy(float), rtol=1e-9, atol=1e-12,
                               equal_nan=True):
                return f"column {col} differs"
        elif not x.astype(str).equals(y.astype(str)):
            return f"column {col} differs"
    return None


def test_pipeline_on_real_slurm_matches_local(pipeline_run, tmp_path_factory, monkeypatch):
    ensure_slurm()
    from tests.cluster.slurm import SlurmCluster

    root = tmp_path_factory.mktemp("slurm")
    workdir = tmp_path_factory.mktemp("slurm_run")
    started = time.monotonic()
    with SlurmCluster(root / "cluster", gpus=1) as cluster:
        profile = slurm_profile(root, cluster.cpus, cluster.mem_mb)
        for key, value in cluster.env.items():
            if key in ("SLURM_CONF", "PATH"):
                monkeypatch.setenv(key, value)
        # liu2025_dlr's 80 small jobs would cost ~12 s each of SLURM start-up here; the other
        # branches keep GPU-declared training rules, and their tables are compared below.
        proc = run_snakemake(workdir, "--workflow-profile", str(profile), check=False,
                             extra_config="liu2025_dlr: {enabled: false}\n")
        jobs = cluster.run("scontrol", "-o", "show", "job", check=False).stdout
        logs = cluster.log_tail()
    elapsed = time.monotonic() - started
    print(f"SLURM run: {elapsed:.0f} s")
    assert proc.returncode == 0, f"snakemake --executor slurm failed:\n{proc.stdout[-4000:]}\n" \
                                 f"{proc.stderr[-8000:]}\n{logs}"
    out = proc.stdout + proc.stderr
    assert "Nothing to be done" not in out
    # The jobs really went through SLURM: one batch job per rule instance, GPU rules with a GPU.
    job_lines = [line for line in jobs.splitlines() if line.startswith("JobId=")]
    assert len(job_lines) >= 5, jobs
    not_done = [line[:200] for line in job_lines if "JobState=COMPLETED" not in line]
    assert not not_done, not_done
    gpu_rules = gpu_declared_rules()
    gpu_jobs = [line for line in job_lines if _rule_of(line) in gpu_rules]
    assert gpu_jobs, f"no job of the GPU rules {sorted(gpu_rules)} ran:\n{jobs[-3000:]}"
    no_gpu = [line[:300] for line in gpu_jobs if "TresPerJob=gres:gpu:" not in line]
    assert not no_gpu, f"GPU rule jobs submitted without a GPU: {no_gpu}"

    local, remote = _tables(pipeline_run), _tables(workdir)
    assert set(remote) <= set(local), set(remote) - set(local)
    assert {"results/ingest/qc.csv", "results/rosenberg_xray/figure4_table.csv",
            "results/xu2023_vcf/table2.csv"} <= set(remote)
    diffs = {name: why for name in remote if (why := _same_table(local[name], remote[name]))}
    assert not diffs, diffs
