"""The study registry (src/vfrepro/data/studies.yaml) and everything that must agree with it:
rule folders and rule names, config sections, the manifest check, the report's study list."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import REPO
from vfrepro import registry
from vfrepro.cohort.manifest import STUDY_COLUMNS

RULE_RE = re.compile(r"^(?:rule|checkpoint)\s+(\w+)\s*:", re.M)
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())


def study_rules(study: str) -> list[str]:
    text = (REPO / "workflow/rules/studies" / study / "rules.smk").read_text()
    return RULE_RE.findall(text)


def schema_has(study: str, dotted: str) -> bool:
    node = SCHEMA["properties"][study]
    for part in dotted.split("."):
        props = node.get("properties", {})
        if part not in props:
            # a free-form mapping (e.g. classify.grids) holds any key below it
            return node.get("additionalProperties", True) is not False and "properties" not in node
        node = props[part]
    return True


def test_names_are_unique_and_built_ones_have_a_branch():
    names = registry.names()
    assert len(names) == len(set(names)) >= 5
    for study in registry.built():
        folder = REPO / "workflow/rules/studies" / study
        assert (folder / "common.smk").is_file() and (folder / "rules.smk").is_file(), study
        assert study in CONFIG and study in SCHEMA["properties"], f"{study}: no config/schema section"
    for s in registry.studies():
        if not s.built:
            assert not (REPO / "workflow/rules/studies" / s.name).exists()


@pytest.mark.parametrize("study", registry.built())
def test_every_rule_is_prefixed_and_has_a_stage_config(study):
    rules = study_rules(study)
    assert rules, f"{study}: no rules"
    wrong = [r for r in rules if not r.startswith(f"{study}_")]
    assert not wrong, f"{study}: rules not named <study>_<stage>: {wrong}"
    stages = {r[len(study) + 1:] for r in rules}
    assert stages == set(registry.stages(study)), \
        f"{study}: rules {sorted(stages)} vs registry stage_config {sorted(registry.stages(study))}"


@pytest.mark.parametrize("study", registry.built())
def test_stage_config_keys_exist_in_the_schema(study):
    for stage, keys in registry.get(study).stage_config.items():
        unknown = [k for k in keys if not schema_has(study, k)]
        assert not unknown, f"{study}_{stage}: keys not in the config schema: {unknown}"


def test_stage_config_nests_only_the_listed_keys():
    section = CONFIG["liu2025_dlr"]
    got = registry.stage_config("liu2025_dlr", "shap", section)
    assert got == {"seed": section["seed"], "shap": section["shap"]}
    fuse = registry.stage_config("liu2025_dlr", "fuse", section)
    assert fuse["deep"] == {"pca_components": section["deep"]["pca_components"]}
    assert set(fuse["select"]) == {"lasso_folds", "min_features"}
    # Absent keys are left out, unknown stages are an error.
    assert registry.stage_config("rosenberg_xray", "cam", {"seed": 1}) == {"seed": 1}
    with pytest.raises(KeyError):
        registry.stage_config("liu2025_dlr", "nope", section)


def test_no_rule_reads_threads_or_memory_as_config():
    for study in registry.built():
        for stage, keys in registry.get(study).stage_config.items():
            assert not {"threads", "mem_mb", "enabled"} & set(keys), f"{study}_{stage}"


def test_targets_expand_from_the_config():
    t = registry.targets("rosenberg_xray", CONFIG["rosenberg_xray"])
    assert "results/rosenberg_xray/vgg16/cv_summary.csv" in t
    assert "results/rosenberg_xray/cam_resnet18.png" in t
    liu = registry.targets("liu2025_dlr", CONFIG["liu2025_dlr"])
    assert "results/liu2025_dlr/shap/imagenet_decision_class2.png" in liu
    # 9 single files + table1.{csv,md}; per backbone: ROC, 3 x 3 SHAP, stacked SHAP bar, 3 prospective
    # decision plots, OOF predictions, 3 LASSO figures
    assert len(liu) == len(set(liu)) == 9 + 2 + 2 * (1 + 3 * 3 + 1 + 3 + 1 + 3)
    assert "results/liu2025_dlr/radimagenet/oof_predictions.csv" in liu and "results/liu2025_dlr/table1.md" in liu
    only = registry.targets("rosenberg_xray", CONFIG["rosenberg_xray"], cam_arch=[])
    assert not [p for p in only if "cam_" in p]


def test_manifest_columns_come_from_the_registry():
    assert STUDY_COLUMNS == {s.name: s.manifest_columns for s in registry.studies()}


def test_report_front_page_lists_the_registry():
    text = (REPO / "workflow/report/workflow.rst").read_text()
    assert registry.update_rst(text) == text, \
        "workflow.rst's study list is stale: python -m vfrepro.registry --update-rst workflow/report/workflow.rst"
    for name in registry.names():
        assert f"**{name}**" in text


def test_every_study_has_a_docs_page():
    for name in registry.names():
        assert (REPO / "docs/studies" / f"{name}.md").is_file(), name
