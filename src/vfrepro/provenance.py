"""What a study's results were made with: config, seeds, software, code, hardware, weights.

`collect(config, study, repo)` gives a JSON-ready dict; `to_markdown(record)` renders it for the
report. Nothing here reads the cohort: no patient identifier can enter a provenance record.
The config's own paths (cohort.manifest, weight files) are shown as the user gave them.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import yaml

# Distribution names whose versions change results; those not installed are left out.
PACKAGES = ["numpy", "scipy", "pandas", "SimpleITK", "pydicom", "pyradiomics", "torch",
            "torchvision", "scikit-learn", "lightgbm", "xgboost", "shap", "statsmodels",
            "neuroCombat", "matplotlib", "snakemake", "snakemake-executor-plugin-slurm", "vfrepro"]


def config_sha256(config: dict) -> str:
    """sha256 of the config as canonical JSON (sorted keys), so key order does not matter."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def seeds(config: dict, study: str) -> dict[str, int]:
    """Every `seed` key of the study's section (dotted path -> value), plus the cohort's."""
    found = {}

    def walk(node, prefix):
        if isinstance(node, dict):
            for key, value in node.items():
                path = f"{prefix}.{key}"
                if key == "seed" or key.endswith("_seed"):
                    found[path] = value
                else:
                    walk(value, path)

    walk(config.get(study, {}), study)
    cohort = config.get("cohort", {})
    if cohort.get("source", "synthetic") == "synthetic" and "seed" in cohort.get("synthetic", {}):
        found["cohort.synthetic.seed"] = cohort["synthetic"]["seed"]
    return found


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit(repo: Path | str | None) -> dict[str, object]:
    """HEAD of the checkout at `repo` and whether it had uncommitted changes; 'unknown' outside git."""
    if repo is None:
        return {"commit": "unknown", "dirty": None}
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return {"commit": "unknown", "dirty": None}
        status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=30)
        return {"commit": head.stdout.strip(),
                "dirty": bool(status.stdout.strip()) if status.returncode == 0 else None}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def hardware() -> dict[str, object]:
    """CPU model, cores (machine and usable), RAM and CUDA GPUs of the machine that runs this."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpus: list[str] = []
    # torch is slow to import: ask it only where an NVIDIA driver is present.
    if Path("/proc/driver/nvidia").exists() or shutil.which("nvidia-smi"):
        try:
            import torch  # the GPU list is torch's view of CUDA, as the deep rules see it

            if torch.cuda.is_available():
                gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        except ImportError:
            pass
    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "cores_usable": usable,
            "ram_gib": _ram_gib(), "gpus": gpus or ["none"],
            "os": f"{platform.system()} {platform.release()}", "machine": platform.machine()}


def weights(config: dict, study: str, base: Path | None = None) -> dict[str, object]:
    """The study's pretrained weights, from its `weights` section ({name: file path}, with an
    optional `init: random|pretrained`): per named file its path and sha256 ('missing' when the
    file is absent), per empty entry 'random init'; `init` is 'random init' when no file is used."""
    section = config.get(study, {}).get("weights", {})
    if not isinstance(section, dict):
        section = {"weights": section}
    init = section.get("init")
    files: dict[str, object] = {}
    for name, value in section.items():
        if name == "init":
            continue
        if not value or init == "random":
            files[name] = "random init"
            continue
        path = Path(value) if base is None or Path(value).is_absolute() else base / value
        files[name] = {"path": str(value), "sha256": file_sha256(path) if path.is_file() else "missing"}
    used = any(isinstance(v, dict) for v in files.values())
    return {"init": (init or "pretrained") if used else "random init", "files": files}


def collect(config: dict, study: str, repo: Path | str | None = None,
            workdir: Path | str | None = None, outputs: list | None = None) -> dict[str, object]:
    """The provenance record of `study` under `config` (the resolved Snakemake config);
    `outputs`: result files listed with their sha256 (paths as given, relative to the workdir)."""
    from vfrepro import registry

    paper = {}
    if study in registry.names():
        entry = registry.get(study)
        paper = {"title": entry.title, "citation": entry.citation}
    return {
        "study": study,
        "paper": paper,
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "config_sha256": config_sha256(config),
        "seeds": seeds(config, study),
        "packages": package_versions(),
        "git": git_commit(repo),
        "hardware": hardware(),
        "weights": weights(config, study, Path(workdir) if workdir else None),
        "outputs": {str(p): file_sha256(Path(p)) for p in sorted(outputs or []) if Path(p).is_file()},
        "chosen": chosen(outputs),
        "config": config,
    }


def chosen(outputs: list | None) -> list[dict]:
    """The deviations from the paper a study lists (the rows of its ``chosen.csv`` among
    ``outputs``, vfrepro.evaluate.chosen; config rows left out: the record holds the config)."""
    import csv
    rows = []
    for p in sorted(outputs or []):
        if Path(p).name == "chosen.csv" and Path(p).is_file():
            with open(p, newline="") as fh:
                rows += [r for r in csv.DictReader(fh) if r.get("module") != "config"]
    return rows


def to_markdown(record: dict) -> str:
    """A human-readable page of `record` (the report shows it next to the study's tables)."""
    hw, git = record["hardware"], record["git"]
    paper = record.get("paper") or {}
    lines = [f"# Provenance: {record['study']}", ""]
    if paper:
        lines += [f"Reproduces: {paper['title']} ({paper['citation']}).", ""]
    lines += [f"Created {record['created_utc']} (UTC).", "",
              "## Code", "",
              f"- git commit: `{git['commit']}`" + (" (uncommitted changes)" if git.get("dirty") else ""),
              "", "## Seeds", ""]
    lines += [f"- `{k}`: {v}" for k, v in record["seeds"].items()] or ["- none"]
    lines += ["", "## Weights", "", f"- initialisation: {record['weights']['init']}"]
    lines += [f"- `{k}`: `{v['path']}` sha256 `{v['sha256']}`" if isinstance(v, dict) else f"- `{k}`: {v}"
              for k, v in record["weights"]["files"].items()]
    lines += ["", "## Hardware (of the job that wrote this record)", "",
              f"- CPU: {hw['cpu']}; {hw['cores']} cores ({hw['cores_usable']} usable); RAM {hw['ram_gib']} GiB",
              f"- GPU: {', '.join(hw['gpus'])}", f"- OS: {hw['os']} ({hw['machine']})",
              "", "## Packages", "", "| package | version |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in record["packages"].items()]
    if record.get("chosen"):
        lines += ["", "## Deviations from the paper and values it leaves out", ""]
        lines += [f"- **{r['setting']}** ({r['module']}): {r['value']}. {r['reason']}" for r in record["chosen"]]
    lines += ["", "## Outputs", "", "| file | sha256 |", "|---|---|"]
    lines += [f"| {k} | `{v}` |" for k, v in record["outputs"].items()]
    lines += ["", "## Configuration (resolved)", "", f"sha256 `{record['config_sha256']}`", "",
              "```yaml", yaml.safe_dump(record["config"], sort_keys=False).rstrip(), "```", ""]
    return "\n".join(lines)


def write(record: dict, out: Path | str) -> None:
    """Write `record` as JSON (.json) or Markdown (.md)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".json":
        out.write_text(json.dumps(record, indent=2, default=str) + "\n")
    elif out.suffix == ".md":
        out.write_text(to_markdown(record))
    else:
        raise ValueError(f"provenance: unknown output type {out.suffix!r} (use .json or .md)")


