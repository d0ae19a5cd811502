"""The real DAG on a tiny synthetic cohort: lint, dry run, a full run and what it leaves."""

import json
import re

import pandas as pd
import pydicom
import pytest

from tests.conftest import run_snakemake
from vfrepro.deid import PHI_KEYWORDS


def test_lint_is_clean(tmp_path):
    proc = run_snakemake(tmp_path, "--lint")
    assert "Lints for" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_dry_run_plans_the_cohort_stages(tmp_path):
    out = run_snakemake(tmp_path, "-n").stdout
    for rule in ("synth", "validate_manifest", "ingest", "ingest_gate"):
        assert rule in out


def test_bad_config_rejected_with_the_key(tmp_path):
    proc = run_snakemake(tmp_path, "-n", check=False, extra_config="preprocess:\n  spacing: [1.0, 1.0]\n")
    assert proc.returncode != 0 and "spacing" in proc.stdout + proc.stderr


def test_shipped_config_validates_and_plans(tmp_path):
    """config.yaml as shipped (no test overrides) passes the schema and gives a DAG."""
    import subprocess
    import sys

    from tests.conftest import REPO

    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
                           "--configfile", str(REPO / "config.yaml"), "-n"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "synth" in proc.stdout


@pytest.mark.slow
def test_pipeline_outputs(pipeline_run):
    qc = pd.read_csv(pipeline_run / "results/ingest/qc.csv")
    assert len(qc) == 20 and (qc["status"] == "ok").all()
    assert qc["case_id"].str.fullmatch(r"c[0-9a-f]{10}").all()
    for case in qc["case_id"]:
        summary = json.loads((pipeline_run / f"results/preprocess/{case}/summary.json").read_text())
        assert summary["spacing"] == [1.0, 1.0, 1.0]
        assert all(n > 1000 for n in summary["mask_voxels"].values())
    sites = pd.read_csv(pipeline_run / "resources/cohort/manifest.validated.csv")["site"].unique()
    for site in sites:
        assert (pipeline_run / f"results/qc/montage_{site}.png").stat().st_size > 10_000
    # Nothing left to do: the DAG is complete and stable.
    assert "Nothing to be done" in run_snakemake(pipeline_run, "-n").stdout + \
        run_snakemake(pipeline_run, "-n").stderr


@pytest.mark.slow
def test_no_header_phi_in_results_or_logs(pipeline_run):
    """Names, IDs and birth dates from the DICOM headers appear in no result, file name or log."""
    values = set()
    for path in list((pipeline_run / "resources/synthetic/dicom").rglob("*"))[:400]:
        if path.is_file():
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            values |= {str(ds.get(k)) for k in PHI_KEYWORDS if ds.get(k) not in (None, "")}
    values = {v for v in values if len(v) >= 4}
    assert values, "the synthetic headers should carry fake identifiers"
    for root in ("results", "logs"):
        for path in (pipeline_run / root).rglob("*"):
            for value in values:
                assert value not in str(path.relative_to(pipeline_run)), f"{value} in file name {path}"
            if path.is_file():
                blob = path.read_bytes()
                # Whole tokens: a numeric ID (StudyID, say) may occur inside a feature's digits.
                # Plain substring search first: the regex cannot skip ahead through a 500 MB
                # VGG16 checkpoint.
                hits = [v for v in values if v.encode() in blob
                        and re.search(rb"(?<![0-9A-Za-z.])" + re.escape(v.encode()) + rb"(?![0-9A-Za-z])", blob)]
                assert not hits, f"{hits} found in {path}"


def test_paper_preset_plans_and_restores_paper_settings(tmp_path):
    """The paper preset merged over config.yaml validates, plans, and leaves no demo shortcut:
    both architectures of rosenberg_xray get the published lr / epochs / 10-fold CV."""
    import subprocess
    import sys

    import yaml
    from snakemake.utils import update_config

    from tests.conftest import REPO
    from vfrepro.deep.run import arch_config

    preset = REPO / "workflow/presets/paper.yaml"
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
                           "--configfile", str(REPO / "config.yaml"), str(preset), "-n"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(cfg, yaml.safe_load(preset.read_text()))
    for arch in ("resnet18", "vgg16"):
        rx = arch_config(cfg["rosenberg_xray"], arch)
        assert (rx["train"]["lr"], rx["train"]["epochs"], rx["cv"]["folds"]) == (0.00016, 200, 10), arch
    assert cfg["xu2023_vcf"]["train"]["epochs"] == 25 and cfg["xu2023_vcf"]["input_size"] == 224
    assert cfg["liu2025_dlr"]["weights"]["init"] == "pretrained"
    qu = cfg["qu2025_mil"]
    assert (qu["transforms"]["resize"], qu["transforms"]["crop"], qu["bags"]["n_slices"]) == (256, 224, 5)
    wang = cfg["wang2024_twostage"]
    assert (wang["slices"]["input_size"], wang["detector"]["augment"], wang["detector"]["train"]["batch_size"],
            wang["detector"]["train"]["epochs"], wang["classifier"]["train"]["epochs"]) == (1024, "offline8", 3, 5, 15)


@pytest.mark.slow
def test_study_branches_in_the_dag(pipeline_run):
    """Each study branch ran in the shared DAG and used the vertebrae its paper uses."""
    res = pipeline_run / "results"
    manifest = pd.read_csv(pipeline_run / "resources/cohort/manifest.validated.csv")
    # liu2025_dlr: fractured vertebrae only, radiomics extracted for exactly those cases.
    cohort = pd.read_csv(res / "liu2025_dlr/cohort.csv")
    fractured = manifest[manifest["fracture"] == 1]
    assert set(cohort["key"]) == set(fractured["case_id"] + ":" + fractured["mask_label"].astype(str))
    extracted = {p.name.split("_")[0] for p in (res / "liu2025_dlr/radiomics").glob("c*_reader1.csv")}
    assert extracted == set(fractured["case_id"])
    combat = json.loads((res / "liu2025_dlr/radiomics/combat_info.json").read_text())
    external = set(cohort.loc[cohort["split"] == "external", "site"]) - set(combat["fitted_sites"])
    assert set(combat["unseen_sites_estimated_from_own_rows"]) | set(combat["unseen_sites_passed_through"]) == external
    table3 = pd.read_csv(res / "liu2025_dlr/table3.csv")
    assert {"RadImageNet", "ImageNet"} <= set(table3.astype(str).stack())
    # rosenberg_xray: both architectures, VGG16 with its per-architecture settings.
    metrics = pd.read_csv(res / "rosenberg_xray/metrics.csv")
    assert list(metrics["model"]) == ["resnet18", "vgg16"]
    vgg = json.loads((res / "rosenberg_xray/vgg16/train_info.json").read_text())
    assert vgg["cv_folds"] == 0 and vgg["train_config"]["lr"] == 0.0001
    # xu2023_vcf: fractured vertebrae, evaluated per dataset.
    t2 = pd.read_csv(res / "xu2023_vcf/table2.csv")
    assert "test" in set(t2["dataset"]) and "prospective" in set(t2["dataset"])
    # qu2025_mil: one bag pair per vertebra, S / Z / ensemble evaluated on the validation rows.
    bags = pd.read_csv(res / "qu2025_mil/bags.csv")
    assert len(bags) == len(manifest[manifest["ao_type"].notna()])
    acc = pd.read_csv(res / "qu2025_mil/accuracy.csv")
    assert list(acc["row"]) == ["S", "Z", "ensemble"] and acc["published"].notna().all()
    assert (res / "qu2025_mil/gradcam_S.png").is_file() and (res / "qu2025_mil/reader_study.md").is_file()
    # wang2024_twostage: both detectors trained on training slices only, every dataset in Table 3.
    for b in ("resnet18", "mobilenet_v2"):
        info = json.loads((res / f"wang2024_twostage/detect/{b}/info.json").read_text())
        slices = pd.read_csv(res / "wang2024_twostage/slices/slices.csv")
        assert info["n_train_slices"] == slices.loc[slices["split"] == "train", "slice_id"].nunique()
    t3 = pd.read_csv(res / "wang2024_twostage/table3.csv")
    assert {"training", "test", "alternative hospital"} <= set(t3["dataset"])
