"""Bad input a user gives by hand is one line on stderr naming the file and the problem, with a
non-zero exit, never a traceback (issue 16, 'tracebacks to clean messages')."""

import os

import pytest

from vfrepro.cli import main
from vfrepro.errors import InputError
from vfrepro.io_safety import check_writable, parse_label_levels, read_csv


def _one_line_error(capsys, argv, *needles):
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert rc not in (0, None), err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, (n, err)
    return err


@pytest.fixture
def qc_ok(tmp_path):
    p = tmp_path / "qc.csv"
    p.write_text("case_id,status,reason\nc0000000001,ok,\n")
    return p


def test_zero_byte_csv_named(tmp_path, capsys):
    empty = tmp_path / "qc.csv"
    empty.write_bytes(b"")
    _one_line_error(capsys, ["ingest-gate", "--qc", empty, "--out", tmp_path / "cases.txt"],
                    "qc.csv", "empty (0 bytes)")
    _one_line_error(capsys, ["validate-manifest", "--manifest", empty, "--out", tmp_path / "m.csv"],
                    "qc.csv", "empty (0 bytes)")
    _one_line_error(capsys, ["ingest", "--manifest", empty, "--out", tmp_path / "ing"], "qc.csv", "empty")


def test_blank_lines_only_csv_named(tmp_path):
    p = tmp_path / "blank.csv"
    p.write_text("\n\n")
    with pytest.raises(InputError, match=r"blank\.csv.*no header row"):
        read_csv(p)


def test_semicolon_csv_named(tmp_path, capsys):
    semi = tmp_path / "manifest.csv"
    semi.write_text("patient_id;site;dicom_dir\nP1;A;/x\n")
    err = _one_line_error(capsys, ["validate-manifest", "--manifest", semi, "--out", tmp_path / "m.csv"],
                          "manifest.csv", "semicolons")
    assert "comma-separated" in err
    qc = tmp_path / "qc.csv"
    qc.write_text("case_id;status\nc1;ok\n")
    _one_line_error(capsys, ["ingest-gate", "--qc", qc, "--out", tmp_path / "cases.txt"], "qc.csv", "semicolons")


def test_tab_separated_and_study_reader(tmp_path):
    tab = tmp_path / "features.csv"
    tab.write_text("key\tf1\nk1\t1\n")
    from vfrepro.studies.cli_common import read_csv as study_read_csv  # what the study CLIs call
    with pytest.raises(InputError, match=r"features\.csv.*tabs"):
        study_read_csv(tab, index_col="key")


def test_comma_csv_with_semicolon_in_a_value_is_read(tmp_path):
    p = tmp_path / "ok.csv"
    p.write_text("case_id,message\nc1,a;b\n")
    assert read_csv(p)["message"].tolist() == ["a;b"]


def test_qc_without_status_column(tmp_path, capsys):
    qc = tmp_path / "qc.csv"
    qc.write_text("case_id,reason\nc0000000001,\n")
    out = tmp_path / "cases.txt"
    _one_line_error(capsys, ["ingest-gate", "--qc", qc, "--out", out], "qc.csv", "status", "lacks column")
    assert not out.exists()


def test_gate_still_passes_a_good_table(qc_ok, tmp_path, capsys):
    out = tmp_path / "sub" / "cases.txt"  # a parent folder that does not exist yet is made
    assert main(["ingest-gate", "--qc", str(qc_ok), "--out", str(out)]) == 0
    assert out.read_text() == "c0000000001\n"


def test_out_is_a_folder(qc_ok, tmp_path, capsys):
    folder = tmp_path / "cases.txt"
    folder.mkdir()
    _one_line_error(capsys, ["ingest-gate", "--qc", qc_ok, "--out", folder], "--out", "is a folder")
    plain = tmp_path / "results"  # no file suffix: found when written, still one line
    plain.mkdir()
    _one_line_error(capsys, ["ingest-gate", "--qc", qc_ok, "--out", plain], "results", "is a folder")


def test_out_under_a_file(qc_ok, tmp_path, capsys):
    _one_line_error(capsys, ["ingest-gate", "--qc", qc_ok, "--out", qc_ok.parent / "qc.csv" / "cases.txt"],
                    "--out", "is a file, not a folder")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_out_in_read_only_folder(qc_ok, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        _one_line_error(capsys, ["ingest-gate", "--qc", qc_ok, "--out", ro / "cases.txt"],
                        "--out", "no write permission")
    finally:
        ro.chmod(0o700)


def test_unwritable_check_uses_access(tmp_path, monkeypatch):
    # runs as root too: the permission test above cannot, so the check is shown on os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False)
    with pytest.raises(InputError, match="no write permission"):
        check_writable("--out", str(tmp_path / "x.csv"))


@pytest.mark.parametrize("labels, why", [("20:L1,x", "bad entry 'x'"), ("L1:20", "integer label"),
                                         ("20:L1,20:L2", "appears twice"), ("20:", "empty level"),
                                         (",", "no labels given"), ("-3:L1", ">= 0")])
def test_malformed_labels(tmp_path, capsys, labels, why):
    with pytest.raises(InputError, match="--labels"):
        parse_label_levels(labels)
    _one_line_error(capsys, ["radiomics", "--case-id", "c1", "--image", tmp_path / "i.nii.gz", "--mask",
                             tmp_path / "m.nii.gz", f"--labels={labels}", "--out", tmp_path / "r.csv"],
                    "--labels", why)


def test_labels_parse():
    assert parse_label_levels("20:L1, 21:L2") == {20: "L1", 21: "L2"}
    assert parse_label_levels("20", default_level="{label}") == {20: "20"}


@pytest.mark.parametrize("text, why", [("setting: [binWidth\n", "not valid YAML at line 2"),
                                       ("setting: {binWidht: 25}\n", "binWidht"),
                                       ("featureClass: {glcm: [NoSuchFeature]}\n", "NoSuchFeature"),
                                       ("setting: {binWidth: wide}\n", "binWidth"),
                                       ("- a\n- b\n", "YAML mapping")])
def test_broken_radiomics_params(tmp_path, capsys, text, why):
    params = tmp_path / "params.yaml"
    params.write_text(text)
    err = _one_line_error(capsys, ["radiomics", "--case-id", "c1", "--image", tmp_path / "i.nii.gz",
                                   "--mask", tmp_path / "m.nii.gz", "--labels", "20:L1", "--params", params,
                                   "--out", tmp_path / "r.csv"], "params.yaml", why)
    assert not (tmp_path / "r.csv").exists(), err


def test_package_params_pass_validation():
    from vfrepro.radiomics.extract import load_params
    assert load_params(bin_width=10)["setting"]["binWidth"] == 10.0


# ---------------------------------------------------------------- small cohorts: said, not silent
def test_fold_reduction_is_warned_and_recorded():
    import numpy as np

    from vfrepro.select import lasso_select
    from vfrepro.select.core import FoldsReduced, cv_folds

    y = np.array([0] * 12 + [1] * 6 + [2] * 4)
    g = np.repeat(np.arange(11), 2)
    notes = []
    with pytest.warns(FoldsReduced, match=r"5-fold CV reduced to 2 folds: class '2' has only 2"):
        f = cv_folds(y, g, 5, 0, notes)
    assert f.max() + 1 == 2 and len(notes) == 1
    rng = np.random.default_rng(0)
    import pandas as pd
    X = pd.DataFrame(rng.normal(size=(22, 3)), columns=["a", "b", "c"])
    with pytest.warns(FoldsReduced):
        _, summary, _ = lasso_select(X, y, g, nfolds=5, seed=0)
    assert summary["nfolds"] == 2 and "LASSO lambda: 5-fold CV reduced to 2" in summary["warnings"][0]
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", FoldsReduced)  # no reduction: no warning
        cv_folds(y, g, 2, 0)


def test_vfrepro_warning_is_one_log_line(capsys):
    import warnings

    from vfrepro import cli
    from vfrepro.select.core import FoldsReduced

    cli._show_vfrepro_warning(FoldsReduced("CV: 5-fold CV reduced to 2 folds"), FoldsReduced, "x.py", 1)
    assert capsys.readouterr().err == "warning: CV: 5-fold CV reduced to 2 folds\n"
    del warnings


# ---------------------------------------------------------------- rule failures on the console
MAIN_LOG = """Building DAG of jobs...
[Tue Dec  1 10:55:05 2026]
localrule liu2025_dlr_radiomics:
    input: results/preprocess/c1/image.nii.gz, results/preprocess/c1/mask.nii.gz
    log: logs/liu2025_dlr/radiomics/c1_r1.log
RuleException:
CalledProcessError in file "workflow/rules/studies/liu2025_dlr/rules.smk", line 20:
Command 'set -euo pipefail;  vfrepro radiomics --case-id c1 --out x.csv > logs/liu2025_dlr/radiomics/c1_r1.log 2>&1' returned non-zero exit status 2.
Error in rule liu2025_dlr_radiomics:
    message: None
    jobid: 7
    log: logs/liu2025_dlr/radiomics/c1_r1.log (check log file(s) for error details)
    shell:
        vfrepro radiomics --case-id c1 > logs/liu2025_dlr/radiomics/c1_r1.log 2>&1
        (command exited with non-zero exit code)
RuleException:
CalledProcessError in file "workflow/rules/studies/xu2023_vcf/rules.smk", line 30:
Command 'set -euo pipefail;  vfrepro xu2023_vcf train --arch resnet18 > 'logs/xu 2023/train_resnet18.log' 2>&1' returned non-zero exit status 1.
Exiting because a job execution failed. Look above for error messages
"""


def test_onerror_summary_names_each_failed_log_and_its_first_error(tmp_path):
    from vfrepro.rule_failures import first_error, summarize

    (tmp_path / "logs/liu2025_dlr/radiomics").mkdir(parents=True)
    (tmp_path / "logs/liu2025_dlr/radiomics/c1_r1.log").write_text(
        "loading\nerror: [file params.yaml] radiomics params rejected by PyRadiomics: Key 'binWidht'\n")
    (tmp_path / "logs/xu 2023").mkdir(parents=True)
    (tmp_path / "logs/xu 2023/train_resnet18.log").write_text(
        "epoch 1\nTraceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n"
        "    f()\nRuntimeError: CUDA out of memory\n")
    main_log = tmp_path / "2026-12-01T105505.261306.snakemake.log"
    main_log.write_text(MAIN_LOG)
    lines = summarize([str(main_log)], tmp_path)
    assert lines == [
        "failed: liu2025_dlr_radiomics: logs/liu2025_dlr/radiomics/c1_r1.log: error: [file params.yaml] "
        "radiomics params rejected by PyRadiomics: Key 'binWidht'",
        "failed: vfrepro xu2023_vcf train: logs/xu 2023/train_resnet18.log: RuntimeError: CUDA out of memory"]
    assert first_error("all fine\n") is None
    assert first_error("x\npreprocess refused: [case c1] label 20 empty\n") == "preprocess refused: [case c1] label 20 empty"


def test_onerror_falls_back_to_newest_logs_with_an_error(tmp_path):
    from vfrepro.rule_failures import print_failures

    (tmp_path / "logs/a").mkdir(parents=True)
    (tmp_path / "logs/a/ok.log").write_text("done\n")
    (tmp_path / "logs/a/bad.log").write_text("error: [file qc.csv; field status] lacks column(s) status\n")
    main_log = tmp_path / "run.snakemake.log"
    main_log.write_text("Exiting because a job execution failed.\n")
    import io
    buf = io.StringIO()
    lines = print_failures([str(main_log)], tmp_path, stream=buf)
    assert lines == ["failed: logs/a/bad.log: error: [file qc.csv; field status] lacks column(s) status"]
    assert "what failed" in buf.getvalue()


def test_first_error_of_a_shell_failure_is_its_last_line():
    from vfrepro.rule_failures import first_error

    assert first_error("/usr/bin/bash: line 1: vfrepro: command not found\n") == \
        "/usr/bin/bash: line 1: vfrepro: command not found"
    assert first_error("epoch 1\nepoch 2\n") is None


def test_a_job_killed_by_a_signal_is_named_as_killed(tmp_path):
    from vfrepro.rule_failures import summarize

    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "train.log").write_text("epoch 1\n")
    main = tmp_path / "main.log"
    main.write_text("RuleException:\nCalledProcessError in file rules.smk, line 36:\n"
                    "Command 'set -euo pipefail;  vfrepro rosenberg_xray train --arch resnet18 > logs/train.log 2>&1'"
                    " died with <Signals.SIGKILL: 9>.\n")
    lines = summarize(main, tmp_path)
    assert lines == ["failed: vfrepro rosenberg_xray train: logs/train.log: killed by SIGKILL (the job was "
                     "stopped from outside; rerun the same command)"], lines
