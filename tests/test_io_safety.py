"""An output path that is one of the command's inputs is refused before anything is written
(issue 16): the input is left byte-identical."""

import os

import pytest

from vfrepro.cli import main
from vfrepro.errors import InputError
from vfrepro.io_safety import refuse_overwrite


def _check_refused(capsys, argv, victim, flag):
    before = victim.read_bytes()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"field {flag}" in err and "refusing to overwrite" in err, err
    assert victim.read_bytes() == before


def test_validate_manifest_out_equal_to_manifest_refused(tmp_path, capsys):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("patient_id,site\nMRN1,A\n")
    _check_refused(capsys, ["validate-manifest", "--manifest", str(manifest), "--out", str(manifest)],
                   manifest, "--out")


def test_harmonize_out_equal_to_csv_refused_also_through_a_relative_spelling(tmp_path, capsys,
                                                                            monkeypatch):
    table = tmp_path / "features.csv"
    table.write_text("site,f1\nA,1\nB,2\n")
    monkeypatch.chdir(tmp_path)
    _check_refused(capsys, ["harmonize", "combat", "--csv", str(table), "--batch", "site",
                            "--features", "f1", "--out", "./sub/../features.csv"], table, "--out")


def test_preprocess_out_mask_equal_to_mask_refused_also_through_a_link(tmp_path, capsys):
    mask = tmp_path / "mask.nii.gz"
    mask.write_bytes(b"not really a mask")
    link = tmp_path / "link.nii.gz"
    os.symlink(mask, link)
    _check_refused(capsys, ["preprocess", "--case-id", "c0000000001", "--image", str(tmp_path / "i.nii.gz"),
                            "--mask", str(mask), "--labels", "1:L1", "--out-mask", str(link)],
                   mask, "--out-mask")


def test_general_rule_outputs_vs_inputs():
    import tempfile
    with tempfile.NamedTemporaryFile() as fh:
        with pytest.raises(InputError, match="--out-csv is the same file as --predictions"):
            refuse_overwrite({"--out-csv": fh.name}, {"--predictions": [fh.name]})
        refuse_overwrite({"--out": fh.name + ".new"}, {"--predictions": fh.name})  # fine
        refuse_overwrite({"--out": "results/x.csv"}, {"--outcome": "fracture"})


def test_outputs_named_after_what_they_hold_are_refused_too(tmp_path, capsys):
    # liu2025_dlr evaluate --metrics is an output (its help says so) though not named --out*
    pred = tmp_path / "pred.csv"
    pred.write_text("case_id,mask_label,patient,split,truth,prob_0,prob_1,prob_2\n")
    before = pred.read_bytes()
    rc = main(["liu2025_dlr", "evaluate", "--cfg", '{"seed": 0, "evaluate": {"n_boot": 10}}',
               "--pred-radimagenet", str(pred), "--pred-imagenet", str(tmp_path / "other.csv"),
               "--metrics", str(pred), "--delong", str(tmp_path / "d.csv"),
               "--roc-radimagenet", str(tmp_path / "a.png"), "--roc-imagenet", str(tmp_path / "b.png")])
    assert rc == 2 and "--metrics is the same file as --pred-radimagenet" in capsys.readouterr().err
    assert pred.read_bytes() == before


def test_declared_outputs_follow_the_help_convention():
    from vfrepro.cli import build_parser
    from vfrepro.io_safety import declared_outputs

    declared = declared_outputs(build_parser())
    every = set().union(*declared.values())
    # outputs of several commands not named --out*, and inputs of the same names elsewhere
    assert {"metrics", "delong", "models", "lasso_path", "oof", "chosen", "thresholds"} <= every
    table3 = next(d for f, d in declared.items() if {"tex", "thresholds"} <= d)
    assert "metrics" not in table3 and "oof" not in table3  # table3 reads them
