# The shared stages' config and the cohort tables: every rule reads them through the functions
# below. Each study's own constants and input functions are in workflow/rules/studies/<study>/.
import copy
import json
import os
import shlex
import sys

import pandas as pd
from snakemake.utils import validate

from vfrepro import registry


validate(config, "../schemas/config.schema.yaml")

SYNTH = config["cohort"]["synthetic"]
# Holds the cohort's own paths, which may name patients: kept out of results/, which is shared.
VALIDATED_MANIFEST = "resources/cohort/manifest.validated.csv"

# One paper = one branch, listed in the study registry (src/vfrepro/data/studies.yaml): its
# name is its rule folder, rule prefix, config section, results/ folder, CLI verb and report
# category. A branch's common.smk registers its targets in STUDY_TARGETS.
STUDIES = registry.built()
STUDY_TARGETS = {}


def enabled_studies():
    """Studies enabled in config whose manifest columns the cohort has (see STUDY_SKIP below)."""
    return [s for s in STUDIES if config.get(s, {}).get("enabled", False) and s not in STUDY_SKIP]


wildcard_constraints:
    case=r"c[0-9a-f]{10}",
    site=r"[A-Za-z0-9_-]+",


def stage_params(study, stage, pick=None):
    """The config keys one rule's command reads (the registry's stage_config of
    `<study>_<stage>`) as shell-quoted JSON: the rule's only config param, so that a change
    elsewhere in the section does not rerun it. `pick` {key: [names]} keeps only those entries
    of a mapping-valued key (e.g. the job's own architecture's weights); a key may be dotted
    ("detector.weights")."""
    # A copy: stage_config hands out the config's own sub-dicts, which picking must not change.
    cfg = copy.deepcopy(registry.stage_config(study, stage, config.get(study, {})))
    for dotted, keep in (pick or {}).items():
        *parents, key = dotted.split(".")
        node = cfg
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(key), dict):
            node[key] = {k: v for k, v in node[key].items() if k in keep}
    return shlex.quote(json.dumps(cfg, sort_keys=True))


# ---- the cohort tables: read once per parse (per file version), not once per job ----

_CACHE = {}


def cached(name, paths, build):
    """build(), memoised on `name` and the paths' mtime and size: a table the workflow
    consults for every job is read once per parse (and again only when its file changes)."""
    stamp = tuple((p, os.stat(p).st_mtime_ns, os.stat(p).st_size) for p in paths)
    key = (name, stamp)
    if key not in _CACHE:
        _CACHE[key] = build()
    return _CACHE[key]


def raw_manifest():
    """The cohort's manifest: generated (synthetic) or the user's."""
    if config["cohort"]["source"] == "synthetic":
        return f"{SYNTH['out']}/manifest.csv"
    if not config["cohort"]["manifest"]:
        raise ValueError("config cohort.source is 'manifest' but cohort.manifest is empty")
    return config["cohort"]["manifest"]


def _manifest_header():
    """The raw manifest's column names (its header only), or None before it exists (the
    synthetic cohort, generated with every column) or when it cannot be read (validate-manifest
    then says why)."""
    try:
        return list(pd.read_csv(raw_manifest(), nrows=0).columns)
    except Exception:
        return None


# A cohort without a study's manifest columns (a CT-only cohort) skips that study, named in one
# line, unless config cohort.required_studies lists it (validate-manifest then refuses).
REQUIRED_STUDIES = [s for s in config["cohort"].get("required_studies", [])
                    if config.get(s, {}).get("enabled", False)]
_HEADER = _manifest_header() if config["cohort"]["source"] == "manifest" else None
STUDY_SKIP = {}
if _HEADER is not None:
    from vfrepro.cohort.manifest import skip_line, study_availability

    _, STUDY_SKIP = study_availability(
        _HEADER, [s for s in STUDIES if config.get(s, {}).get("enabled", False)], REQUIRED_STUDIES)
    if STUDY_SKIP:  # once per invocation, on the console
        print(skip_line(STUDY_SKIP), file=sys.stderr)


def manifest_check_params():
    """validate-manifest's --study-config: the keys it reads of each enabled study (the rows
    liu2025_dlr analyses, its ComBat covariates), shell-quoted JSON."""
    from vfrepro.cohort.manifest import study_check_config

    return shlex.quote(json.dumps(study_check_config(config, enabled_studies()), sort_keys=True))


if config["cohort"]["source"] == "manifest":
    from vfrepro.deid import DEFAULT_SALT, DEMO_SALT_WARNING, default_salt

    if default_salt() == DEFAULT_SALT:  # once per invocation, on the console
        print(DEMO_SALT_WARNING, file=sys.stderr)


def passed_cases_file():
    """The ingest gate's case list (raises until the checkpoint has run)."""
    return checkpoints.ingest_gate.get().output.cases


def _read_lines(path):
    with open(path) as fh:
        return [line.strip() for line in fh if line.strip()]


def ok_cases():
    """Case ids that passed ingest QC (evaluated after the ingest gate checkpoint)."""
    path = passed_cases_file()
    return cached("ok_cases", [path], lambda: _read_lines(path))


def _read_vertebrae(passed):
    table = pd.read_csv(VALIDATED_MANIFEST, dtype={"case_id": str, "site": str})
    return table[table["case_id"].isin(set(passed))].reset_index(drop=True)


def vertebrae():
    """The validated per-vertebra manifest of the cases that passed ingest."""
    path = passed_cases_file()
    return cached("vertebrae", [VALIDATED_MANIFEST, path], lambda: _read_vertebrae(ok_cases()))


class CohortIndex:
    """Per-case look-ups of one vertebra table, computed once (the input functions of every
    per-case job ask these; a query per job is quadratic in the cohort)."""

    def __init__(self, table):
        self.table = table
        self.cases = sorted(table["case_id"].unique())
        self.first = {r["case_id"]: r for r in table.drop_duplicates("case_id").to_dict("records")}
        pairs = [f"{int(m)}:{lv}" for m, lv in zip(table["mask_label"], table["level"])]
        labels = {}
        for case, pair in zip(table["case_id"], pairs):
            labels.setdefault(case, []).append(pair)
        self.labels = {c: ",".join(v) for c, v in labels.items()}
        self.reader2 = sorted(table.loc[table["mask_reader2_path"].notna(), "case_id"].unique())
        by_site = table.groupby("site")["case_id"].unique()
        self.site_cases = {s: sorted(v) for s, v in by_site.items()}
        self.sites = sorted(self.site_cases)


def cohort_index():
    """The CohortIndex of every vertebra of the cases that passed ingest."""
    path = passed_cases_file()
    return cached("cohort_index", [VALIDATED_MANIFEST, path], lambda: CohortIndex(vertebrae()))


def case_row(case):
    """The per-case attributes (first vertebra row) of one case."""
    return cohort_index().first[case]


def case_labels(case, index=None):
    """'label:level' pairs of a case's vertebrae (of `index`, default all that passed ingest)."""
    return (index or cohort_index()).labels[case]


def reader2_cases(index=None):
    """Cases with a reader-2 mask (in `index`, default all that passed ingest)."""
    return (index or cohort_index()).reader2


def sites():
    return cohort_index().sites


def site_cases(site):
    return cohort_index().site_cases[site]


def get_final_output(wildcards):
    """Everything the default target builds: the shared stages', then each enabled study's
    registry targets and its provenance record, then the reproduction verdicts and summary."""
    index = cohort_index()
    targets = ["results/ingest/qc.csv"]
    targets += expand("results/preprocess/{case}/summary.json", case=ok_cases())
    targets += expand("results/preprocess/{case}/mask_reader2.nii.gz", case=index.reader2)
    targets += expand("results/qc/montage_{site}.png", site=index.sites)
    for study in enabled_studies():
        targets += STUDY_TARGETS[study]()
        targets += expand("results/{study}/provenance/provenance.{ext}", study=study, ext=["json", "md"])
    # the verdicts and the reviewer summary (workflow/rules/reproduction.smk)
    targets += reproduction_targets()
    return targets


# ---- the reproduction verdicts: constants of workflow/rules/reproduction.smk ----

REPRODUCTION_REPORT = "results/reproduction_report.md"


def reproduction_studies():
    """Enabled studies with a reproduction stage (registry-driven: a study without one, e.g.
    a branch still being built, is left out and named in the summary)."""
    return [s for s in enabled_studies() if "reproduction" in registry.stages(s)]


def reproduction_targets():
    out = expand("results/{study}/{f}", study=reproduction_studies(),
                 f=["reproduction.csv", "reproduction_forest.png"])
    return out + [REPRODUCTION_REPORT] if out else []


# ---- provenance: constants of workflow/rules/provenance.smk ----

PROVENANCE_CONFIG = "results/provenance/config.resolved.json"


wildcard_constraints:
    study="|".join(STUDIES),
