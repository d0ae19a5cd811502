"""What the demo-tuning scripts (bench/tune_*.py) share: a study's config block from
config.yaml with dotted ``key=value`` overrides (values parsed as YAML)."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml


def set_dotted(cfg: dict, dotted: str, value: str) -> None:
    *path, last = dotted.split(".")
    d = cfg
    for k in path:
        d = d.setdefault(k, {})
    d[last] = yaml.safe_load(value)


def study_config(config_path: Path, study: str, overrides: list[str]) -> dict:
    """config.yaml's ``study`` block with each ``dotted.key=value`` of ``overrides`` applied."""
    cfg = copy.deepcopy(yaml.safe_load(Path(config_path).read_text())[study])
    for kv in overrides:
        k, v = kv.split("=", 1)
        set_dotted(cfg, k, v)
    return cfg
