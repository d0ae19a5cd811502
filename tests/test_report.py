"""`snakemake --report report.zip` on the tiny run holds every figure and table of every study,
each with a caption, grouped by study, with the provenance of each study beside its tables."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest

import yaml

from tests.conftest import TINY_CONFIG, run_snakemake
from vfrepro import registry

FIGURES = (".png", ".svg", ".pdf", ".jpg")
STUDIES = registry.names()


def _script_json(html: str, name: str):
    """The JSON that Snakemake's report page assigns in <script id=NAME>var NAME = {...};"""
    start = html.find(f'<script id="{name}">')
    assert start >= 0, f"report.html has no <script id={name!r}>"
    start = html.index(f"var {name} = ", start) + len(f"var {name} = ")
    return json.JSONDecoder().raw_decode(html[start:])[0]


@pytest.fixture(scope="module")
def report(pipeline_run):
    run_snakemake(pipeline_run, "--report", "report.zip")
    with zipfile.ZipFile(pipeline_run / "report.zip") as z:
        names = set(z.namelist())
        html = z.read("report/report.html").decode()
    return {"names": names, "html": html, "categories": _script_json(html, "categories"),
            "results": _script_json(html, "results"), "workdir": pipeline_run}


@pytest.mark.slow
def test_every_figure_of_the_run_is_in_the_report(report):
    workdir = report["workdir"]
    figures = {str(p.relative_to(workdir)) for p in (workdir / "results").rglob("*")
               if p.suffix in FIGURES}
    assert figures, "the run made no figures"
    missing = figures - set(report["results"])
    assert not missing, f"figures not wrapped in report(): {sorted(missing)}"
    # The files themselves are in the zip, at the place the page links to.
    for path, res in report["results"].items():
        assert f"report/{res['data_uri']}" in report["names"], path
        assert res["caption"].strip(), f"{path} has no caption"


@pytest.mark.slow
def test_results_are_grouped_by_study_with_tables_and_provenance(report):
    workdir, categories = report["workdir"], report["categories"]
    studies = [s for s in STUDIES if (workdir / "results" / s).is_dir()]
    assert studies, "no study branch ran on the tiny cohort"
    where = {path: cat for cat, subcats in categories.items()
             for paths in subcats.values() for path in paths}
    for study in studies:
        assert study in categories, f"no report category {study!r}: {sorted(categories)}"
        for path, cat in where.items():
            if path.startswith(f"results/{study}/"):
                assert cat == study, f"{path} filed under {cat!r}, not {study!r}"
        # Each of the paper's tables (table2.*, figure4_table.* ...) is in, in at least one format.
        tables = {p.stem for p in (workdir / "results" / study).glob("*table*.*")}
        shown = {Path(p).stem for p in where if p.startswith(f"results/{study}/")}
        assert tables <= shown, f"{study}: tables not in the report: {sorted(tables - shown)}"
        for ext in ("json", "md"):
            assert where.get(f"results/{study}/provenance/provenance.{ext}") == study
    assert all(where[p] == "Cohort QC" for p in where if p.startswith("results/qc/"))


@pytest.mark.slow
def test_front_page_and_provenance_content(report):
    assert "vfrepro" in report["html"] and "liu2025_dlr" in report["html"]
    # docutils leaves "System Message" boxes in the page for rst errors in the front page or captions.
    assert "System Message" not in report["html"], "an rst caption or workflow.rst does not parse"
    workdir = report["workdir"]
    for prov in (workdir / "results").glob("*/provenance/provenance.json"):
        record = json.loads(prov.read_text())
        assert record["study"] == prov.parent.parent.name
        assert re.fullmatch(r"[0-9a-f]{64}", record["config_sha256"])
        assert record["seeds"] and record["packages"]["numpy"] and record["hardware"]["cpu"]
        assert record["git"]["commit"] == "unknown" or re.fullmatch(r"[0-9a-f]{40}", record["git"]["commit"])
        assert record["weights"]["init"]
        tiny = yaml.safe_load(TINY_CONFIG)["cohort"]["synthetic"]["n_patients"]
        assert record["config"]["cohort"]["synthetic"]["n_patients"] == tiny  # the run's own config
        assert record["outputs"], "the branch's outputs are listed with their sha256"
