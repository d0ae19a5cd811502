"""wang2024_twostage stages: slices file, single-map detector, leakage (held-out slices change
nothing fitted), the automatic path, Table 3 on a hand-made confusion, and the CLI chain
slices -> detect -> detection-eval -> classify -> evaluate on small phantom files."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from vfrepro.cli import main
from vfrepro.studies.wang2024_twostage import report as R, study as S
from vfrepro.studies.wang2024_twostage.slices import SagittalSlice

SIZE = 48
DET = {"fpn": False, "anchor_sizes": [8, 16], "representation_size": 32, "augment": "random",
       "options": {"rpn_pre_nms_top_n_train": 50, "rpn_post_nms_top_n_train": 20, "rpn_pre_nms_top_n_test": 20,
                   "rpn_post_nms_top_n_test": 10, "rpn_batch_size_per_image": 16, "box_batch_size_per_image": 8},
       "train": {"epochs": 1, "batch_size": 2, "lr": 0.01, "optimizer": "sgd", "device": "cpu"}}
CLS = {"arch": "resnet18", "detector": "resnet18", "patch": {"n_jitter": 2, "canvas": 12, "out": 16},
       "train_mode": "online", "resample": "weights",
       "augment": {"rotation_deg": 10, "translate_frac": 0.05, "noise_sd": 0.02, "brightness": 0.1, "contrast": 0.1},
       "train": {"epochs": 1, "batch_size": 8, "lr": 0.01, "optimizer": "sgd", "device": "cpu"}}


def _slice(cid, x, seed, diseased=True):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 60, (SIZE, SIZE)).astype(np.uint8)
    boxes = np.array([[10, 4, 30, 18], [10, 24, 30, 40]], np.float32)
    for b in boxes:
        h, w = int(b[3]) - int(b[1]), int(b[2]) - int(b[0])
        img[int(b[1]):int(b[3]), int(b[0]):int(b[2])] = rng.integers(150, 250, (h, w))
    lab = np.array([[1, 0, 0, 0, 0], [0, 0, 0, 0, 0]] if diseased else [[0] * 5, [0] * 5], np.uint8)
    return SagittalSlice(cid, x, img, boxes, ("L1", "L2"), lab, (0, 0))


def _set(n_train=4, held_seed=100):
    sl = [_slice(f"tr{i}", 5, i, diseased=i % 2 == 0) for i in range(n_train)]
    sl += [_slice(f"te{i}", 5, held_seed + i) for i in range(2)] + [_slice(f"ex{i}", 5, held_seed + 9 + i) for i in range(2)]
    split = ["train"] * n_train + ["internal"] * 2 + ["external"] * 2
    return sl, split


def test_slices_file_round_trip(tmp_path):
    sl, split = _set()
    S.save_slices(tmp_path / "s.npz", sl, {s.case_id: sp for s, sp in zip(sl, split)})
    back, sp = S.load_slices(tmp_path / "s.npz")
    assert list(sp) == split and len(back) == len(sl)
    for a, b in zip(sl, back):
        assert a.case_id == b.case_id and np.array_equal(a.image, b.image) and np.array_equal(a.boxes, b.boxes)
        assert a.levels == b.levels and np.array_equal(a.labels, b.labels)


@pytest.mark.parametrize("backbone", ["resnet18", "mobilenet_v2"])
def test_detector_one_feature_map_and_input_size(backbone):
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    model, init = S.build_detector(backbone, DET, SIZE, seed=0)
    assert "random" in init
    assert not isinstance(model.backbone, BackboneWithFPN)
    assert model.transform.min_size == (SIZE,) and model.transform.max_size == SIZE
    feats = model.backbone(torch.zeros(1, 3, 64, 64))
    assert feats.shape[-1] == 4  # stride 16
    assert model.roi_heads.box_head.fc7.out_features == 32
    fpn, _ = S.build_detector(backbone, {**DET, "fpn": True}, SIZE, seed=0)
    assert isinstance(fpn.backbone, BackboneWithFPN)
    # BatchNorm trainable (random init must learn its normalisation)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.backbone.modules())
    assert all(p.requires_grad for p in model.parameters())


def _state(path):
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def test_leakage_held_out_slices_change_nothing_fitted(tmp_path):
    """Detector and classifier trained through the CLI on two slice files that differ only in
    their test / external slices (images, boxes, labels) have identical weights."""
    torch.set_num_threads(1)
    states = []
    for k, held_seed in enumerate((100, 500)):
        d = tmp_path / f"run{k}"
        sl, split = _set(held_seed=held_seed)
        if k:
            sl[-1].labels[:] = 1
            sl[-2].boxes[0] += 3
        d.mkdir()
        S.save_slices(d / "s.npz", sl, {s.case_id: sp for s, sp in zip(sl, split)})
        cfg = {"seed": 3, "slices": {"input_size": SIZE}, "detector": DET}
        assert main(["wang2024_twostage", "detect", "--slices", str(d / "s.npz"), "--backbone", "resnet18",
                     "--cfg", json.dumps(cfg), "--out", str(d / "det")]) == 0
        ccfg = {"seed": 3, "slices": {"input_size": SIZE}, "score_threshold": 0.0, "classifier": CLS}
        assert main(["wang2024_twostage", "classify", "--slices", str(d / "s.npz"), "--detections",
                     str(d / "det/detections.csv"), "--cfg", json.dumps(ccfg), "--out", str(d / "cls")]) == 0
        states.append((_state(d / "det/model.pt"), _state(d / "cls/model.pt")))
    for a, b in zip(states[0], states[1]):
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a)
    p0 = pd.read_csv(tmp_path / "run0/cls/predictions.csv")
    p1 = pd.read_csv(tmp_path / "run1/cls/predictions.csv")
    assert set(p0["dataset"]) == {"training", "test", "alternative hospital"}
    tr0, tr1 = p0[p0["split"] == "train"], p1[p1["split"] == "train"]
    assert np.allclose(tr0.filter(like="prob_").to_numpy(), tr1.filter(like="prob_").to_numpy())


def test_automatic_sources_truth_from_hits():
    s = _slice("a", 1, 0)
    det = np.array([[10, 4, 30, 18], [0, 42, 8, 47]], np.float32)   # hit L1, one FP; L2 missed
    src, where, missed = S.automatic_sources([s], [det])
    assert [w[1] for w in where] == ["L1", "det1"]
    assert src[0].target.tolist() == [1, 0, 0, 0, 0, 0] and src[1].target.tolist() == [0, 0, 0, 0, 0, 1]
    assert [m["level"] for m in missed] == ["L2"] and missed[0]["target"].tolist() == [0, 0, 0, 0, 0, 1]
    # the paper's rule: diseased annotated box + detector normals with IoM < 0.5 to it
    src2, where2 = S.build_sources([s], [det])
    assert [p.source for p in src2] == ["annotated", "detected"] and where2[0][1] == "L1"


def test_table3_hand_confusion_and_empty_class():
    # test set: OVCF 3 positives (2 found, 1 missed), 1 false positive among 5 negatives; KD none
    n = 8
    truth = np.zeros((n, 6), int)
    truth[:3, 0] = 1
    truth[3:, 5] = 1
    prob = np.full((n, 6), 0.1)
    prob[:2, 0] = 0.9
    prob[3, 0] = 0.8
    prob[3:, 5] = 0.9
    df = pd.DataFrame({"case_id": [f"c{i}" for i in range(n)], "level": "L1", "dataset": "test"})
    for k, c in enumerate(S.CLASSES):
        df[f"truth_{c}"], df[f"prob_{c}"] = truth[:, k], prob[:, k]
    t3 = R.table3(df, n_boot=50)
    ov = t3[t3["class"] == "ovcf"].iloc[0]
    assert (ov["sensitivity_reproduced"], ov["specificity_reproduced"]) == pytest.approx((2 / 3, 4 / 5))
    assert ov["ppv_reproduced"] == pytest.approx(2 / 3) and ov["f1_reproduced"] == pytest.approx(2 / 3)
    assert ov["sensitivity_published"] == pytest.approx(0.958)
    assert ov["sensitivity_ci_low"] < 2 / 3 < ov["sensitivity_ci_high"]
    kd = t3[t3["class"] == "kd"].iloc[0]
    assert np.isnan(kd["sensitivity_reproduced"]) and "no positives" in kd["note"]
    mean = t3[t3["class"] == "mean (no SN)"].iloc[0]
    assert mean["sensitivity_published"] == pytest.approx(0.919)
    assert ov["ci_method"].startswith("Wilson") and ov["auc_ci_method"] == "DeLong"   # one row per patient


def test_table3_resamples_patients_when_they_repeat():
    rng = np.random.default_rng(0)
    n_pat, per = 30, 4
    truth = np.zeros((n_pat * per, 6), int)
    cls = rng.integers(0, 6, n_pat * per)
    truth[np.arange(len(cls)), cls] = 1
    shift = np.repeat(rng.normal(0, 0.25, n_pat), per)          # a patient's patches share a bias
    prob = np.clip(0.55 * truth + rng.random(truth.shape) * 0.45 + shift[:, None], 0, 1)
    df = pd.DataFrame({"case_id": np.repeat([f"c{i}" for i in range(n_pat)], per), "level": "L1", "dataset": "test"})
    for k, c in enumerate(S.CLASSES):
        df[f"truth_{c}"], df[f"prob_{c}"] = truth[:, k], prob[:, k]
    t3 = R.table3(df, n_boot=300).set_index("class")
    d2 = R.table3(pd.concat([df, df]), n_boot=300).set_index("class")   # same patient order: same draws
    ov = t3.loc["ovcf"]
    assert ov["ci_method"].startswith("cluster bootstrap over 30 patients") and ov["auc_ci_method"] == "cluster bootstrap"
    # duplicating every row within its patient leaves the patient-level CIs where they were
    for col in ("sensitivity_ci_low", "specificity_ci_high", "f1_ci_low", "auc_ci_low", "auc_ci_high"):
        assert d2.loc["ovcf", col] == pytest.approx(ov[col]), col


# ----------------------------------------------------------------------------- CLI chain on files

def _write_cohort(root):
    import SimpleITK as sitk
    rows = []
    splits = ["train"] * 4 + ["internal"] * 2 + ["external"] * 2
    rng = np.random.default_rng(0)
    for i, sp in enumerate(splits):
        cid = f"c{i:010x}"
        d = root / "pre" / cid
        d.mkdir(parents=True)
        ct = rng.normal(-100, 20, (40, 30, 20)).astype(np.float32)
        lab = np.zeros(ct.shape, np.int16)
        les = np.zeros(ct.shape, np.uint8)
        lab[5:15, 5:21, 4:16] = 20
        lab[20:30, 5:21, 4:16] = 21
        ct[lab > 0] = 300.0
        ovcf = int(i % 2 == 0)
        if ovcf:
            les[8:11, 6:12, 4:16] = 1
            ct[8:11, 6:12, 4:16] = 900.0
        for a, name in ((ct, "image.nii.gz"), (lab, "mask_reader1.nii.gz"), (les, "lesion.nii.gz")):
            sitk.WriteImage(sitk.GetImageFromArray(a), str(d / name))
        for lv, ml, flag in (("L1", 20, ovcf), ("L2", 21, 0)):
            rows.append({"case_id": cid, "split": sp, "site": "s1" if sp != "external" else "s2", "level": lv,
                         "mask_label": ml, "lesion_path": str(d / "lesion.nii.gz"), "ovcf": flag, "of": 0, "sn": 0,
                         "kd": 0, "ps": 0, "age": 70 + i, "sex": "MF"[i % 2], "t_score": -2.0 - 0.1 * i})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)


def test_cli_chain_on_small_files(tmp_path):
    torch.set_num_threads(1)
    _write_cohort(tmp_path)
    out = tmp_path / "res"
    cfg = {"seed": 1, "slices": {"n_slices": 2, "slice_span": 0.6, "input_size": SIZE, "min_box_px": 3},
           "detector": DET, "score_threshold": 0.0, "iom_threshold": 0.5, "classifier": CLS,
           "threshold": 0.5, "n_boot": 20}
    js = json.dumps(cfg)
    assert main(["wang2024_twostage", "slices", "--manifest", str(tmp_path / "manifest.csv"), "--preprocess-dir",
                 str(tmp_path / "pre"), "--cfg", js, "--out", str(out)]) == 0
    tab = pd.read_csv(out / "slices/slices.csv")
    assert len(tab) == 32 and tab["ovcf"].sum() == 8
    assert (out / "tables.md").read_text().count("|") > 20
    for b in ("resnet18", "mobilenet_v2"):
        assert main(["wang2024_twostage", "detect", "--slices", str(out / "slices/slices.npz"), "--backbone", b,
                     "--cfg", js, "--out", str(out / f"detect/{b}")]) == 0
        info = json.loads((out / f"detect/{b}/info.json").read_text())
        assert info["n_train_slices"] == 8 and info["fpn"] is False
    dets = [str(out / f"detect/{b}/detections.csv") for b in ("resnet18", "mobilenet_v2")]
    assert main(["wang2024_twostage", "detection-eval", "--slices", str(out / "slices/slices.npz"),
                 "--detections", *dets, "--cfg", js, "--out", str(out)]) == 0
    dt = pd.read_csv(out / "detection_table.csv")
    ap = dt[(dt["quantity"] == "map") & (dt["dataset"] == "test")]
    assert set(ap["column"]) == {"resnet18", "mobilenetv2"} and ap["published"].notna().all()
    assert ((dt["quantity"] == "p") & (dt["column"] == "resnet18 vs mobilenetv2")).any()
    for f in ("pr_curves.png", "counts.png", "error_histograms.png"):
        assert (out / f).stat().st_size > 5000
    assert main(["wang2024_twostage", "classify", "--slices", str(out / "slices/slices.npz"), "--detections",
                 dets[0], "--detector-name", "resnet18", "--cfg", js, "--out", str(out / "classify")]) == 0
    from vfrepro.evaluate.schema import read
    pred = read(out / "classify/predictions.csv", S.CLASSES, multilabel=True)
    assert set(pred["dataset"]) == {"training", "test", "alternative hospital"}
    assert set(pred.loc[pred["box_source"] == "annotated", "truth_ovcf"]) == {1}
    assert main(["wang2024_twostage", "evaluate", "--predictions", str(out / "classify/predictions.csv"),
                 "--predictions-automatic", str(out / "classify/predictions_automatic.csv"),
                 "--info", str(out / "classify/info.json"), "--slices", str(out / "slices/slices.npz"),
                 "--detections", dets[0], "--cfg", js, "--out", str(out)]) == 0
    t3 = pd.read_csv(out / "table3.csv")
    assert {"training", "test", "alternative hospital"} == set(t3["dataset"])
    for f in ("roc_curves.png", "confusion_training.png", "confusion_test.png",
              "confusion_alternative_hospital.png", "examples.png"):
        assert (out / f).stat().st_size > 5000, f
    chosen = pd.read_csv(out / "chosen.csv")
    assert {"detector_feature_map", "hit_rule", "resample_rule", "table3_ci"} <= set(chosen["setting"])
    assert "fully automatic" in (out / "table3.md").read_text()


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    assert main(["wang2024_twostage", "detect", "--slices", str(tmp_path / "none.npz"), "--backbone", "resnet18",
                 "--cfg", "{}", "--out", str(tmp_path / "o")]) == 2
    assert "slices file not found" in capsys.readouterr().err
