"""The conda environments of envs/ (used with `snakemake --sdm conda`) agree with the workflow
and with pyproject.toml: every rule that runs something names an env that exists, every pin
equals pyproject's, and every env holds its stage group's packages. Conda itself is not needed
(nor installable on CI)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ENVS = REPO / "envs"
RULE_FILES = [REPO / "Snakefile", *sorted((REPO / "workflow/rules").rglob("*.smk"))]
RULE_RE = re.compile(r"^(?:rule|checkpoint)\s+(\w+)\s*:", re.M)
ACTIONS = ("shell:", "script:", "run:", "notebook:", "wrapper:")
# Packages every env group needs (beyond what the `vfrepro` command itself imports).
GROUPS = {
    "core": {"numpy", "scipy", "pandas", "pydicom", "simpleitk", "matplotlib", "jsonschema",
             "pyyaml", "pillow"},
    "radiomics": {"numpy", "pandas", "simpleitk", "pyradiomics", "pyyaml"},
    "deep": {"numpy", "pandas", "simpleitk", "torch", "torchvision", "scikit-learn", "pillow"},
    "stats": {"numpy", "scipy", "pandas", "scikit-learn", "statsmodels", "neurocombat",
              "lightgbm", "xgboost", "shap", "matplotlib"},
}
# Run Snakemake itself, not the jobs: no env needs them.
ORCHESTRATION = {"snakemake", "snakemake-executor-plugin-slurm"}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_pins() -> dict[str, str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {}
    for dep in deps:
        name, _, version = dep.partition("==")
        assert version, f"pyproject dependency {dep!r} is not pinned with =="
        pins[norm(name)] = version.strip()
    return pins


def env_pins(path: Path) -> dict[str, str]:
    spec = yaml.safe_load(path.read_text())
    pins = {}
    for dep in spec["dependencies"]:
        if isinstance(dep, dict):
            for item in dep.get("pip", []):
                if item.startswith("-e"):
                    continue
                name, _, version = item.partition("==")
                assert version, f"{path.name}: pip package {item!r} is not pinned with =="
                pins[norm(name)] = version.strip()
    return pins


def rules_and_envs() -> list[tuple[str, str, Path | None]]:
    """(rule file, rule name, resolved conda env path or None) for every rule that runs something."""
    found = []
    for path in RULE_FILES:
        text = path.read_text()
        starts = [m for m in RULE_RE.finditer(text)]
        for i, m in enumerate(starts):
            block = text[m.end(): starts[i + 1].start() if i + 1 < len(starts) else len(text)]
            if not any(re.search(rf"^\s+{a}", block, re.M) for a in ACTIONS):
                continue  # an aggregation rule such as `all`
            env = re.search(r"^\s+conda:\s*\n\s+f?[\"']([^\"']+)[\"']", block, re.M)
            found.append((str(path.relative_to(REPO)), m.group(1), (path.parent / env.group(1)).resolve() if env else None))
    return found


def env_files() -> list[Path]:
    return sorted(ENVS.glob("*.yaml"))


def test_every_rule_names_an_existing_env():
    rules = rules_and_envs()
    assert len(rules) >= 5
    missing = [f"{f}:{r}" for f, r, env in rules if env is None]
    assert not missing, f"rules without a conda: env: {missing}"
    broken = [f"{f}:{r} -> {env}" for f, r, env in rules if not env.is_file()]
    assert not broken, f"rules naming an env that does not exist: {broken}"
    outside = [f"{f}:{r} -> {env}" for f, r, env in rules if env.parent != ENVS.resolve()]
    assert not outside, f"envs must live in envs/: {outside}"


def test_stage_groups_have_an_env():
    assert {p.stem for p in env_files()} >= set(GROUPS)


@pytest.mark.parametrize("path", env_files(), ids=lambda p: p.name)
def test_env_pins_equal_pyproject(path):
    pins = pyproject_pins()
    spec = yaml.safe_load(path.read_text())
    env = env_pins(path)
    wrong = {n: (v, pins.get(n)) for n, v in env.items() if pins.get(n) != v}
    assert not wrong, f"{path.name}: pins differ from pyproject (env, pyproject): {wrong}"
    # The package itself comes in editable, so the rules' `vfrepro` command exists in the env.
    pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "-e ../" in pip, f"{path.name}: `-e ../` (the vfrepro package) missing"
    python = [d for d in spec["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert python == ["python=3.11"], f"{path.name}: python must be pinned to 3.11 ({python})"
    assert "conda-forge" in spec["channels"]


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_env_holds_its_group(group):
    missing = GROUPS[group] - set(env_pins(ENVS / f"{group}.yaml"))
    assert not missing, f"envs/{group}.yaml lacks {sorted(missing)} (pin them as in pyproject)"


def test_every_pyproject_package_is_in_some_env():
    in_envs = set().union(*(env_pins(p) for p in env_files()))
    missing = set(pyproject_pins()) - ORCHESTRATION - in_envs
    assert not missing, f"pyproject dependencies in no env: {sorted(missing)}"
