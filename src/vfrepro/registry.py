"""The study registry: the one list of studies, read from package data (data/studies.yaml).

Everything that needs to know which studies exist (the workflow, the CLI, the manifest check,
the report, the tests, the benchmarks) asks here. Torch-free and cheap to import: the
workflow reads it at every parse.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources

import yaml

__all__ = ["Study", "SHAPES", "studies", "names", "built", "get", "config_value", "stage_config",
           "stages", "targets"]

SHAPES = ("radiomics_deep", "cnn_single_label", "mil_bags", "detection_multilabel")


@dataclass(frozen=True)
class Study:
    name: str
    title: str
    citation: str
    shape: str
    built: bool
    package: str
    manifest_columns: tuple[str, ...]
    label: dict
    targets: tuple[str, ...] = ()
    target_lists: dict = field(default_factory=dict)
    stage_config: dict = field(default_factory=dict)
    published: str | None = None

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.label.get("classes", [])]

    @property
    def label_columns(self) -> list[str]:
        return list(self.label.get("columns") or [self.label["column"]])

    @property
    def multilabel(self) -> bool:
        return "columns" in self.label

    @property
    def class_names(self) -> dict[str, str]:
        names = {str(k): str(v) for k, v in (self.label.get("class_names") or {}).items()}
        return {c: names.get(c, c) for c in self.classes}


def _validate(name: str, rec: dict) -> None:
    need = {"title", "citation", "shape", "built", "package", "manifest_columns", "label"}
    lacking = sorted(need - set(rec))
    if lacking:
        raise ValueError(f"studies.yaml: study {name} lacks {lacking}")
    if rec["shape"] not in SHAPES:
        raise ValueError(f"studies.yaml: study {name} has shape {rec['shape']!r}; known: {SHAPES}")
    if not rec["package"].endswith("." + name):
        raise ValueError(f"studies.yaml: study {name}'s package must be named after it, got {rec['package']}")


@functools.cache
def _load() -> dict[str, Study]:
    text = resources.files("vfrepro.data").joinpath("studies.yaml").read_text()
    out = {}
    for name, rec in yaml.safe_load(text).items():
        _validate(name, rec)
        out[name] = Study(
            name=name, title=rec["title"], citation=rec["citation"], shape=rec["shape"],
            built=bool(rec["built"]), package=rec["package"],
            manifest_columns=tuple(rec["manifest_columns"]), label=dict(rec["label"]),
            targets=tuple(rec.get("targets") or ()), target_lists=dict(rec.get("target_lists") or {}),
            stage_config={k: tuple(v) for k, v in (rec.get("stage_config") or {}).items()},
            published=rec.get("published"))
    return out


def studies() -> list[Study]:
    """Every registered study, in registry order."""
    return list(_load().values())


def names() -> list[str]:
    return list(_load())


def built() -> list[str]:
    """Studies whose branch exists (workflow rule file, package, tests)."""
    return [s.name for s in studies() if s.built]


def get(name: str) -> Study:
    try:
        return _load()[name]
    except KeyError:
        raise KeyError(f"unknown study {name!r}; registered: {names()}") from None


_MISSING = object()


def config_value(section: dict, dotted: str, default=_MISSING):
    """``section["a"]["b"]`` for ``"a.b"``; ``default`` (or KeyError naming the key) if absent."""
    node = section
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is _MISSING:
                raise KeyError(dotted)
            return default
        node = node[part]
    return node


def stage_config(name: str, stage: str, section: dict) -> dict:
    """The part of a study's config section that one stage (rule) reads: the dotted keys its
    registry entry lists, nested as in the config. Keys absent from ``section`` are left out."""
    study = get(name)
    if stage not in study.stage_config:
        raise KeyError(f"study {name} has no stage {stage!r} in the registry; known: {sorted(study.stage_config)}")
    return pick(section, study.stage_config[stage])


def pick(section: dict, keys) -> dict:
    """The dotted ``keys`` of ``section``, nested as in it (``["a.b"]`` -> ``{"a": {"b": ...}}``);
    keys absent from ``section`` are left out."""
    out: dict = {}
    for dotted in keys:
        if not _has(section, dotted):
            continue
        value = config_value(section, dotted)
        node = out
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def stages(name: str) -> list[str]:
    """The stages (rules ``<name>_<stage>``) of a study, in registry order."""
    return list(get(name).stage_config)


def targets(name: str, section: dict, **lists) -> list[str]:
    """The study's main outputs, ``results/<name>/...``: its registry ``targets`` with each
    ``{key}`` expanded over ``target_lists[key]`` (a literal list, or a dotted path into the
    study's config ``section``). ``lists`` overrides a list (e.g. one filtered by the caller)."""
    import itertools
    import string

    study = get(name)
    out: list[str] = []
    for pattern in study.targets:
        keys = [f for _, f, _, _ in string.Formatter().parse(pattern) if f]
        values = []
        for key in keys:
            if key in lists:
                values.append([str(v) for v in lists[key]])
                continue
            spec = study.target_lists.get(key)
            if spec is None:
                raise KeyError(f"study {name}: target {pattern!r} names {{{key}}}, which target_lists lacks")
            values.append([str(v) for v in (config_value(section, spec) if isinstance(spec, str) else spec)])
        for combo in itertools.product(*values):
            out.append(f"results/{name}/" + pattern.format(**dict(zip(keys, combo))))
    return out


def _has(section: dict, dotted: str) -> bool:
    node = section
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


RST_BEGIN = ".. studies: generated from the registry (python -m vfrepro.registry --update-rst FILE)"
RST_END = ".. end of studies"


def studies_rst() -> str:
    """The registry's studies as an rst bullet list (the report's front page, the docs)."""
    lines = []
    for s in studies():
        state = "" if s.built else " Registered; no branch yet."
        lines.append(f"- **{s.name}**: {s.title} ({s.citation}).{state}")
    return "\n".join(lines)


def update_rst(text: str) -> str:
    """``text`` with the block between RST_BEGIN and RST_END replaced by :func:`studies_rst`."""
    head, sep, rest = text.partition(RST_BEGIN)
    if not sep or RST_END not in rest:
        raise ValueError(f"no {RST_BEGIN!r} ... {RST_END!r} block")
    _, _, tail = rest.partition(RST_END)
    return f"{head}{RST_BEGIN}\n\n{studies_rst()}\n\n{RST_END}{tail}"


def main(argv=None) -> int:
    import argparse
    from pathlib import Path

    ap = argparse.ArgumentParser(prog="python -m vfrepro.registry",
                                 description="List the registered studies; regenerate an rst study list.")
    ap.add_argument("--update-rst", type=Path, help="rewrite this file's generated study block")
    a = ap.parse_args(argv)
    if a.update_rst:
        a.update_rst.write_text(update_rst(a.update_rst.read_text()))
    else:
        for s in studies():
            print(f"{s.name}\t{'built' if s.built else 'registered'}\t{s.shape}\t{s.title}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
