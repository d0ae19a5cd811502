"""Start and stop a real single-node SLURM (Debian's slurm-wlm 22.05 + munge) on localhost.

Everything lives under one temporary folder: munge key, socket, pid, log and seed files,
slurm.conf, gres.conf, state and spool folders. Only the daemons started here are stopped,
by the pids in their pid files. Settings follow ../shared/CLUSTER_NOTES.md:

- one node named after `hostname -s` (NodeAddr 127.0.0.1) with every CPU and 90% of the
  memory; `DefMemPerCPU` so that jobs share the node;
- no accounting storage, so the executor must use `--slurm-status-command squeue`, which is
  safe because `MinJobAge` (3600 s, so that the test can also list every job it ran) is far
  above 3x the first status-check delay;
- one GPU gres backed by /dev/null, so that rules with `gpu=1` are scheduled (and run on CPU);
- the executor's job step clears SLURM_CONF before its nested `srun`, which then reads
  /etc/slurm/slurm.conf: the config is written there too (and removed on stop) unless the
  machine already has one, in which case an `srun` wrapper that sets SLURM_CONF goes first on
  PATH instead.

Needs root and the packages `slurm-wlm munge`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

ETC_CONF = Path("/etc/slurm/slurm.conf")
OURS = "# written by vfrepro tests/cluster/slurm.py"
DAEMONS = ("slurmd", "slurmctld", "munged")


def _mem_total_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie that PID 1 has not reaped yet counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


class SlurmCluster:
    """A one-node SLURM under `root`; use as a context manager (stops everything on exit)."""

    def __init__(self, root: Path, cpus: int | None = None, gpus: int = 1, timeout: float = 60):
        self.root = Path(root).resolve()
        self.host = socket.gethostname().split(".")[0]
        self.cpus = cpus or os.cpu_count() or 1
        self.mem_mb = int(_mem_total_mb() * 0.9)
        self.gpus = gpus
        self.timeout = timeout
        self.conf = self.root / "etc" / "slurm.conf"
        self.socket = self.root / "munge" / "munge.socket.2"
        self.bin = self.root / "bin"
        self.pidfiles = {name: self.root / "run" / f"{name}.pid" for name in DAEMONS}
        self.logs = {name: self.root / "log" / f"{name}.log" for name in DAEMONS}
        self.wrote_etc_conf = False

    # -- environment for clients (sbatch, squeue, sinfo, snakemake) --------------------------
    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ, SLURM_CONF=str(self.conf))
        if not self.wrote_etc_conf:
            env["PATH"] = f"{self.bin}:{env.get('PATH', '')}"
        return env

    def run(self, *cmd: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, check=check,
                              timeout=timeout)

    # -- configuration --------------------------------------------------------------------
    def _write_config(self) -> None:
        for sub in ("etc", "munge", "run", "log", "state", "spool", "bin"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        # munged refuses a socket folder that others can write, or that it cannot search.
        (self.root / "munge").chmod(0o755)
        self.root.chmod(0o755)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        gres_node = f" Gres=gpu:{self.gpus}" if self.gpus else ""
        self.conf.write_text(f"""{OURS}
ClusterName=vfreprotest
SlurmctldHost={self.host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.socket}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MailProg=/bin/true
MinJobAge=3600
SchedulerParameters=sched_interval=2
ReturnToService=2
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation={self.root}/state
SlurmdSpoolDir={self.root}/spool
SlurmctldPidFile={self.pidfiles['slurmctld']}
SlurmdPidFile={self.pidfiles['slurmd']}
SlurmctldLogFile={self.logs['slurmctld']}
SlurmdLogFile={self.logs['slurmd']}
SlurmctldDebug=info
SlurmdDebug=info
GresTypes=gpu
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.mem_mb}{gres_node} State=UNKNOWN
PartitionName=main Nodes={self.host} Default=YES MaxTime=INFINITE State=UP
""")
        # A GPU line without File= is dropped and the node goes INVAL; /dev/null stands in.
        (self.conf.parent / "gres.conf").write_text(
            f"NodeName={self.host} Name=gpu File=/dev/null\n" if self.gpus else "")
        srun = self.bin / "srun"
        srun.write_text(f"#!/bin/sh\nexport SLURM_CONF={self.conf}\nexec {shutil.which('srun') or '/usr/bin/srun'} \"$@\"\n")
        srun.chmod(0o755)
        if not ETC_CONF.exists() or ETC_CONF.read_text().startswith(OURS):
            ETC_CONF.parent.mkdir(parents=True, exist_ok=True)
            ETC_CONF.write_text(self.conf.read_text())
            self.wrote_etc_conf = True

    # -- daemons --------------------------------------------------------------------------
    def _daemon(self, *cmd: str) -> None:
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
                               f"\n{self.log_tail()}")

    def start(self) -> "SlurmCluster":
        self._write_config()
        m = self.root / "munge"
        self._daemon("munged", f"--key-file={m / 'munge.key'}", f"--socket={self.socket}",
                     f"--pid-file={self.pidfiles['munged']}", f"--log-file={self.logs['munged']}",
                     f"--seed-file={m / 'munged.seed'}", "--force")
        self._daemon("slurmctld", "-f", str(self.conf))
        self._daemon("slurmd", "-f", str(self.conf))
        self.wait_idle()
        return self

    def wait_idle(self) -> None:
        deadline = time.monotonic() + self.timeout
        state = ""
        while time.monotonic() < deadline:
            proc = self.run("sinfo", "-h", "-n", self.host, "-o", "%T", check=False)
            state = proc.stdout.strip()
            if state == "idle":
                return
            time.sleep(1)
        raise RuntimeError(f"node {self.host} not idle after {self.timeout:.0f} s (state {state!r})\n"
                           f"{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for name, path in self.logs.items():
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {path} ---\n" + "\n".join(text))
        return "\n".join(out)

    def stop(self) -> list[str]:
        """Stop the daemons started here by their pid files; give the names still alive."""
        left = []
        for name in DAEMONS:  # slurmd first, munged last (the others need it to shut down)
            pidfile = self.pidfiles[name]
            if not pidfile.exists():
                continue
            try:
                pid = int(pidfile.read_text().split()[0])
            except (ValueError, IndexError):
                continue
            if not _alive(pid):
                continue
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
                time.sleep(0.5)
            if _alive(pid):
                left.append(f"{name} ({pid})")
        if self.wrote_etc_conf:
            if ETC_CONF.exists() and ETC_CONF.read_text().startswith(OURS):
                ETC_CONF.unlink()
            self.wrote_etc_conf = False
        return left

    def __enter__(self) -> "SlurmCluster":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
