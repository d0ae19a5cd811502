"""A real CT through the commands the rules run (issue 16): the TotalSegmentator example CT
(../shared/realdata/totalsegmentator, Apache-2.0; see ../shared/realdata/README.md) with its
vertebra labels, written as DICOM by the test, through a manifest: validate-manifest -> ingest
-> ingest-gate -> preprocess -> liu2025_dlr cohort -> radiomics and deep features (random-init
ResNet50). The same CT goes in twice, as two patients: one mask in the image's voxel order, one
with its y axis flipped (as dcm2niix writes a DICOM's rows) on the same physical grid. Both must
give the same features: radiomics within rtol 1e-6 (nearest-neighbour resampling onto the
image grid gives the same voxels, so only float rounding may differ), deep features within
rtol 1e-4 / atol 1e-5 (float32 CPU convolutions of identical inputs in different batch slots).

The other tests of this CT (tests/test_liu2025_realdata.py) call the feature functions on the
NIfTI directly; this one covers the DICOM, manifest and CLI path.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from tests.corpus.builders import flipped, run_cli
from tests.dicomfab import write_series

LEVELS = {29: "L3", 30: "L2", 31: "L1"}  # TotalSegmentator's codes of the vertebrae used
CROP = dict(x=(38, 82), y=(12, 56), z=(60, 108))  # voxels around them (3 mm grid): keeps the test fast
PATIENTS = {"MRN8001": "native", "MRN8002": "flipped"}


def _crop(image: sitk.Image) -> sitk.Image:
    (x0, x1), (y0, y1), (z0, z1) = CROP["x"], CROP["y"], CROP["z"]
    return image[x0:x1, y0:y1, z0:z1]


def _write_dicom(image: sitk.Image, folder, patient_id: str) -> None:
    """One CT slice file per z of `image` (int16 HU, slope 1, intercept 0) with its geometry."""
    d = np.array(image.GetDirection()).reshape(3, 3)
    arr = sitk.GetArrayFromImage(image).astype(np.int16)
    slices = [(np.array(image.TransformIndexToPhysicalPoint((0, 0, k))), arr[k]) for k in range(arr.shape[0])]
    sx, sy, sz = image.GetSpacing()
    write_series(folder, slices, d[:, 0], d[:, 1], spacing=(sy, sx), thickness=sz, patient_id=patient_id)


@pytest.fixture(scope="module")
def run(realdata, tmp_path_factory):
    ts = realdata / "totalsegmentator"
    image = _crop(sitk.ReadImage(str(ts / "example_ct.nii.gz")))
    labels = _crop(sitk.ReadImage(str(ts / "example_ct_totalseg_labels.nii.gz")))
    lab = sitk.GetArrayFromImage(labels)
    keep = sitk.GetImageFromArray(np.where(np.isin(lab, list(LEVELS)), lab, 0).astype(np.uint8))
    keep.CopyInformation(labels)
    root = tmp_path_factory.mktemp("realct") / "Kohorte"
    rows = []
    for i, (pid, order) in enumerate(PATIENTS.items()):
        base = root / f"{pid}_Doe^Jane"
        _write_dicom(image, base / "CT", pid)
        mask = keep if order == "native" else flipped(keep, axis=1)
        sitk.WriteImage(mask, str(base / "mask.nii.gz"))
        for label, level in LEVELS.items():
            rows.append(dict(patient_id=pid, site="A", split="train" if i == 0 else "internal",
                             dicom_dir=f"{base.name}/CT", mask_path=f"{base.name}/mask.nii.gz", mask_label=label,
                             mask_reader2_path=None, level=level, fracture=1, astlof_morphology=1, astlof_mri=1,
                             astlof_bmd=1, astlof_pain=1, astlof_total=4, astlof_class=label - 29, age=70,
                             sex="F", t_score=-2.5, pain="none"))
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)

    work = tmp_path_factory.mktemp("realct_run")
    validated = work / "resources" / "cohort" / "manifest.validated.csv"
    res = work / "results"

    def ok(argv):
        rc, text = run_cli(argv)
        assert rc == 0, f"vfrepro {argv[0]} failed:\n{text[-3000:]}"
        return text

    ok(["validate-manifest", "--manifest", root / "manifest.csv", "--out", validated, "--studies", "liu2025_dlr"])
    ok(["ingest", "--manifest", validated, "--out", res / "ingest"])
    ok(["ingest-gate", "--qc", res / "ingest" / "qc.csv", "--out", res / "ingest" / "passed_cases.txt"])
    table = pd.read_csv(validated, dtype={"case_id": str})
    cases = {order: table.loc[table["mask_path"].str.contains(pid, regex=False), "case_id"].iloc[0]
             for pid, order in PATIENTS.items()}
    pairs = ",".join(f"{k}:{v}" for k, v in LEVELS.items())
    for case in cases.values():
        out = res / "preprocess" / case
        out.mkdir(parents=True)  # Snakemake makes a rule's output folders
        mask = table.loc[table["case_id"] == case, "mask_path"].iloc[0]
        ok(["preprocess", "--case-id", case, "--image", res / "ingest" / "images" / f"{case}.nii.gz", "--mask", mask,
            "--labels", pairs, "--spacing", "1.5", "1.5", "1.5", "--min-voxels", "100",
            "--out-image", out / "image.nii.gz", "--out-mask", out / "mask_reader1.nii.gz",
            "--out-summary", out / "summary.json"])
        ok(["radiomics", "--case-id", case, "--image", out / "image.nii.gz", "--mask", out / "mask_reader1.nii.gz",
            "--labels", pairs, "--reader", "1", "--bin-width", "25", "--out", res / "radiomics" / f"{case}_reader1.csv"])
    liu = res / "liu2025_dlr"
    (liu / "deep").mkdir(parents=True)
    ok(["liu2025_dlr", "cohort", "--cfg", json.dumps({"label": "astlof_class", "vertebrae": "fractured"}),
        "--manifest", validated, "--passed", res / "ingest" / "passed_cases.txt", "--preprocess-dir",
        res / "preprocess", "--out", liu / "cohort.csv"])
    deep_cfg = {"seed": 0, "weights": {"init": "random", "radimagenet": ""},
                "deep": {"n_slices": 1, "size": 32, "finetune_epochs": 0, "finetune_backbone": False,
                         "lr_head": 1e-3, "lr_backbone": 1e-4, "batch_size": 8, "device": "cpu", "amp": False}}
    ok(["liu2025_dlr", "deep", "--cfg", json.dumps(deep_cfg), "--cohort", liu / "cohort.csv", "--backbone",
        "radimagenet", "--out", liu / "deep" / "radimagenet_features.csv", "--meta", liu / "deep" / "meta.json"])
    return dict(work=work, res=res, cases=cases, ingest_qc=res / "ingest" / "qc.csv")


def _features(run, case):
    t = pd.read_csv(run["res"] / "radiomics" / f"{case}_reader1.csv").set_index("mask_label").sort_index()
    return t


def test_real_ct_ingests_and_both_mask_orders_give_finite_features(run):
    qc = pd.read_csv(run["ingest_qc"])
    assert (qc["status"] == "ok").all(), qc[["case_id", "reason"]]
    assert "MRN80" not in run["ingest_qc"].read_text() and "Doe^" not in run["ingest_qc"].read_text()
    for case in run["cases"].values():
        t = _features(run, case)
        assert (t["status"] == "ok").all() and list(t.index) == list(LEVELS), t[["status", "message"]]
        cols = [c for c in t.columns if c.startswith("original_")]
        assert len(cols) > 90 and np.isfinite(t[cols].to_numpy(float)).all()
        summary = json.loads((run["res"] / "preprocess" / case / "summary.json").read_text())
        assert min(summary["mask_voxels"].values()) > 1000  # real vertebrae at 1.5 mm, not slivers


def test_flipped_mask_gives_the_native_mask_features(run):
    native, flip = (_features(run, run["cases"][k]) for k in ("native", "flipped"))
    cols = [c for c in native.columns if c.startswith("original_")]
    np.testing.assert_allclose(flip[cols].to_numpy(float), native[cols].to_numpy(float), rtol=1e-6, atol=1e-9)
    a = sitk.GetArrayFromImage(sitk.ReadImage(str(run["res"] / "preprocess" / run["cases"]["native"] / "mask_reader1.nii.gz")))
    b = sitk.GetArrayFromImage(sitk.ReadImage(str(run["res"] / "preprocess" / run["cases"]["flipped"] / "mask_reader1.nii.gz")))
    assert np.array_equal(a, b)
    deep = pd.read_csv(run["res"] / "liu2025_dlr" / "deep" / "radimagenet_features.csv", dtype={"case_id": str})
    dcols = [c for c in deep.columns if c.startswith("dtl_")]
    assert len(dcols) == 2048 and len(deep) == 2 * len(LEVELS)
    by = {k: deep[deep["case_id"] == c].sort_values("mask_label")[dcols].to_numpy(float) for k, c in run["cases"].items()}
    assert np.isfinite(by["native"]).all() and by["native"].std() > 0
    np.testing.assert_allclose(by["flipped"], by["native"], rtol=1e-4, atol=1e-5)
