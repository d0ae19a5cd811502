"""qu2025_mil branch: the engine adapter, leakage, the ensemble table, the reader study and the
CLI stages on a small fabricated CT (bags -> train S, Z -> evaluate -> gradcam -> reader study)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import torch

from vfrepro.cli import main
from vfrepro.cohort.labels import LESION_CODES
from vfrepro.studies.qu2025_mil import labels as L
from vfrepro.studies.qu2025_mil import model as M
from vfrepro.studies.qu2025_mil import study as S
from vfrepro.studies.qu2025_mil import tables as T

CFG = {"seed": 3, "bags": {"n_slices": 5, "size": 64},
       "split": {"mode": "manifest", "train": ["train"], "validation": ["internal"]},
       "transforms": {"resize": 64, "crop": 64}, "model": {"feature_dim": 8, "attn_dim": 4},
       "loss": {"bag": 1.0, "super": 0.5, "instance": 0.5, "z_instance_term": "ce"},
       "train": {"epochs": 1, "batch_size": 4, "lr": 0.001}, "evaluate": {"auc_ci": "delong", "n_boot": 50},
       "gradcam": {"per_pair": 1, "target_layer": "features.10"}, "weights": ""}


def _arrays(n=12, seed=0):
    """Bags arrays + meta of n vertebrae (random images), half train, half internal."""
    rng = np.random.default_rng(seed)
    ao = np.array(["AZ", "A1", "A3", "A0"] * n)[:n]
    meta = pd.DataFrame({"case_id": [f"c{i:010x}" for i in range(n)], "patient": [f"p{i}" for i in range(n)],
                         "mask_label": 18, "level": "T11", "ao_type": ao,
                         "split": ["train" if i % 2 == 0 else "internal" for i in range(n)], "site": "site1",
                         "S_label": ao, "Z_label": [L.AZ if a == L.A0 else a for a in ao],
                         "has_instance_labels": True})
    arrays = {}
    for v in L.VIEWS:
        arrays[f"{v}_images"] = rng.integers(0, 255, (n, 5, 64, 64), dtype=np.uint8)
        inst = np.zeros((n, 5), np.int8)
        inst[ao != L.AZ, :2] = 1
        arrays[f"{v}_instance"] = inst
        arrays[f"{v}_positions"] = np.tile(np.arange(5, dtype=np.int32), (n, 1))
    return arrays, meta


def test_engine_adapter_matches_the_phase1_loss_for_both_readings():
    torch.manual_seed(0)
    out = {"bag": torch.randn(2, 6), "instance_class": torch.randn(2, 5, 6), "super": torch.randn(2, 3),
           "attention": torch.softmax(torch.randn(2, 5), -1)}
    tg = {"bag": torch.tensor([1, 5]), "super": torch.tensor([0, 2]),
          "instance_class": torch.tensor([[1, 5, 5, -1, 1], [5, 5, 5, 5, 5]])}
    w = {"bag": 1.0, "super": 0.3, "instance": 0.7}
    for view, term in (("S", "ce"), ("Z", "ce"), ("Z", "variance")):
        task = M.MILTask(view, w, term)
        step = task.step(lambda x: dict(out), (torch.zeros(2), tg))
        ref, _ = M.mil_loss(out, tg, view, w, term)
        assert float(step.loss) == pytest.approx(float(ref), rel=1e-5), (view, term)
    # a batch without any known instance label: no NaN instance term
    unknown = {**tg, "instance_class": torch.full((2, 5), -1)}
    step = M.MILTask("S", w).step(lambda x: dict(out), (torch.zeros(2), unknown))
    assert torch.isfinite(step.loss) and "instance_class" not in step.parts


def test_leakage_changing_validation_bags_leaves_the_model_unchanged(tmp_path):
    arrays, meta = _arrays()
    other = {k: v.copy() for k, v in arrays.items()}
    val = (meta["split"] == "internal").to_numpy()
    other["S_images"][val] = 255 - other["S_images"][val]
    other["S_instance"][val] = 1 - other["S_instance"][val]
    meta2 = meta.copy()
    meta2.loc[val, ["ao_type", "S_label"]] = "A4"
    states = []
    for k, (a, m) in enumerate(((arrays, meta), (other, meta2))):
        S.save_bags(tmp_path / f"b{k}.npz", a, m)
        assert main(["qu2025_mil", "train", "--view", "S", "--bags", str(tmp_path / f"b{k}.npz"),
                     "--cfg", json.dumps(CFG), "--out", str(tmp_path / f"m{k}"), "--no-progress"]) == 0
        states.append(torch.load(tmp_path / f"m{k}/model.pt", weights_only=True))
    assert states[0].keys() == states[1].keys()
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    info = json.loads((tmp_path / "m0/train_info.json").read_text())
    assert info["n_train"] == 6 and info["n_validation"] == 6 and info["init"].startswith("random")


def test_random_split_is_by_patient_and_stratified():
    _, meta = _arrays(40)
    meta["patient"] = [f"p{i // 2}" for i in range(40)]
    role = S.roles(meta, {"seed": 1, "split": {"mode": "random", "validation_fraction": 0.2}})
    by_patient = pd.Series(role).groupby(meta["patient"]).nunique()
    assert (by_patient == 1).all() and (role == "validation").sum() == 8


def test_ensemble_frame_follows_the_rule():
    meta = pd.DataFrame({"case_id": ["a", "b", "c"], "patient": ["a", "b", "c"], "mask_label": 1, "level": "L1",
                         "split": "internal", "site": "s", "ao_type": ["A0", "A3", "AZ"],
                         "S_label": ["A0", "A3", "AZ"], "Z_label": ["AZ", "A3", "AZ"]})
    eye = np.eye(6)
    s = T.predictions_frame(meta, "S", eye[[0, 1, 5]] * 0.9 + 0.1 / 6)
    z = T.predictions_frame(meta, "Z", eye[[5, 4, 0]] * 0.9 + 0.1 / 6)
    e = T.ensemble_frame(s, z)
    assert list(e["pred"]) == ["A0", "A4", "AZ"] and list(e["decided_by"]) == ["S", "Z", "S"]
    assert list(e["truth"]) == ["A0", "A3", "AZ"]


def test_reader_study_with_and_without_columns():
    t = pd.DataFrame({"case_id": list("abcd"), "ao_type": ["A1", "AZ", "A3", "AZ"]})
    df, md, msg = T.reader_study(t)
    assert df.empty and "skipped" in msg and "skipped" in md
    t["reader_r1_alone"] = ["A1", "A1", "A4", "AZ"]
    t["reader_r1_with_model"] = ["A1", "AZ", "A3", "AZ"]
    t["reader_r1_group"] = "interns"
    t["reader_r2_alone"] = ["A2", "AZ", "A3", "A1"]
    t["reader_r2_with_model"] = ["A1", "AZ", "A3", "AZ"]
    t["reader_r2_group"] = "interns"
    df, md, msg = T.reader_study(t)
    r1 = df[(df["reader"] == "r1") & (df["condition"] == "alone")].iloc[0]
    assert r1["accuracy"] == 0.5 and r1["ci_low"] < 0.5 < r1["ci_high"]
    grp = df[(df["reader"] == "(group mean)") & (df["condition"] == "with model")].iloc[0]
    assert grp["accuracy"] == 1.0 and grp["published"] == 0.95


def _fabricated_case(d, case, ao, with_lesion=True):
    """A 1 mm CT with two box 'vertebrae' (labels 18, 19); vertebra 18 gets a fracture lesion
    through its upper half when ao != AZ."""
    hu = np.full((40, 50, 50), -100, np.float32)
    mask = np.zeros(hu.shape, np.uint8)
    for lab, z0 in ((18, 4), (19, 22)):
        mask[z0:z0 + 14, 15:35, 15:35] = lab
        hu[z0:z0 + 14, 15:35, 15:35] = 200
    les = np.zeros(hu.shape, np.uint8)
    if ao != "AZ":
        les[11:18, 15:35, 15:35] = LESION_CODES["fracture_line"]
        hu[11:18, 20:30, 15:35] = 900
    out = d / "results/preprocess" / case
    out.mkdir(parents=True)
    for arr, name in ((hu, "image"), (mask, "mask_reader1")):
        sitk.WriteImage(sitk.GetImageFromArray(arr), str(out / f"{name}.nii.gz"))
    lp = ""
    if with_lesion:
        lp = str(d / f"{case}_lesion.nii.gz")
        sitk.WriteImage(sitk.GetImageFromArray(les), lp)
    return [{"case_id": case, "mask_label": 18, "level": "T11", "ao_type": ao, "lesion_path": lp},
            {"case_id": case, "mask_label": 19, "level": "T12", "ao_type": "AZ", "lesion_path": lp}]


def test_cli_stages_on_a_fabricated_cohort(tmp_path):
    rows = []
    for i, ao in enumerate(["A1", "A3", "AZ", "A0", "A4", "A1", "A3", "AZ"]):
        for r in _fabricated_case(tmp_path, f"c{i:010x}", ao, with_lesion=i != 7):
            rows.append({**r, "split": "train" if i < 5 else "internal", "site": "site1"})
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    cfg = json.dumps(CFG)
    q = tmp_path / "qu"
    assert main(["qu2025_mil", "bags", "--manifest", str(manifest), "--preprocess-dir",
                 str(tmp_path / "results/preprocess"), "--cfg", cfg, "--out", str(q / "bags.npz"),
                 "--table", str(q / "bags.csv")]) == 0
    arrays, meta = S.load_bags(q / "bags.npz")
    assert arrays["S_images"].shape == (16, 5, 64, 64) and len(meta) == 16
    frac = meta.index[(meta["case_id"] == "c0000000000") & (meta["mask_label"] == 18)][0]
    assert list(arrays["S_instance"][frac]) == [0, 0, 0, 1, 1]     # planes through the upper half
    assert (arrays["S_instance"][meta["case_id"] == "c0000000007"] == -1).all()   # no lesion map
    for view in L.VIEWS:
        assert main(["qu2025_mil", "train", "--view", view, "--bags", str(q / "bags.npz"), "--cfg", cfg,
                     "--out", str(q / view), "--no-progress"]) == 0
    from vfrepro.evaluate.schema import read
    pred = read(q / "S/predictions.csv", S.CLASSES)
    assert len(pred) == 6 and set(pred["dataset"]) == {"validation"}
    two = lambda name: [str(q / v / name) for v in L.VIEWS]  # noqa: E731
    assert main(["qu2025_mil", "evaluate", "--predictions", *two("predictions.csv"), "--slices", *two("slices.csv"),
                 "--infos", *two("train_info.json"), "--bag-table", str(q / "bags.csv"), "--cfg", cfg,
                 "--out", str(q)]) == 0
    acc = pd.read_csv(q / "accuracy.csv")
    assert list(acc["row"]) == ["S", "Z", "ensemble"] and acc["published"].tolist() == [0.752, 0.88, 0.838]
    # 6 bags of fewer than 5 patients: no patient-level CI (n/a, with the reason), Wilson beside it
    assert (acc["n_patients"] < 5).all() and acc["ci_low"].isna().all(), acc
    assert (acc["wilson_ci_low"] <= acc["value"]).all() and (acc["value"] <= acc["wilson_ci_high"]).all()
    auc = pd.read_csv(q / "instance_auc.csv")
    assert set(auc["view"]) == {"S", "Z"} and len(auc) == 4
    chosen = pd.read_csv(q / "chosen.csv")
    assert {"z_instance_term", "qu2025_mil.train.lr", "backbone_init"} <= set(chosen["setting"])
    for f in ("confusion_matrices.png", "per_class_accuracy.png", "label_distribution.png", "summary.md"):
        assert (q / f).stat().st_size > 0
    dist = pd.read_csv(q / "label_distribution.csv")
    assert dist.groupby(["set", "labels"])["n"].sum().to_dict()[("train", "case")] == 10
    assert main(["qu2025_mil", "gradcam", "--bags", str(q / "bags.npz"), "--predictions", *two("predictions.csv"),
                 "--models", *two("model.pt"), "--cfg", cfg, "--out", str(q)]) == 0
    assert (q / "gradcam_S.png").is_file() and len(pd.read_csv(q / "gradcam.csv")) >= 8
    assert main(["qu2025_mil", "reader-study", "--manifest", str(manifest), "--out-csv", str(q / "r.csv"),
                 "--out-md", str(q / "r.md")]) == 0
    assert "skipped" in (q / "r.md").read_text()


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    pd.DataFrame({"case_id": ["c0000000001"], "mask_label": [18], "split": ["train"]}).to_csv(
        tmp_path / "m.csv", index=False)
    assert main(["qu2025_mil", "bags", "--manifest", str(tmp_path / "m.csv"), "--preprocess-dir", str(tmp_path),
                 "--out", str(tmp_path / "b.npz"), "--table", str(tmp_path / "b.csv")]) == 2
    assert "ao_type" in capsys.readouterr().err
