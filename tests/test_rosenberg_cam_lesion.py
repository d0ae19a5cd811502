"""rosenberg_xray: CAM against the planted lesion, the Figure 4 notes, Figs 2-3, patient-level CIs
and the CHOSEN outputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from vfrepro.cli import main
from vfrepro.cohort import labels as L
from vfrepro.evaluate import verdict
from vfrepro.studies import rosenberg_xray as rx
from vfrepro.studies.rosenberg_xray import lesion as LS
from vfrepro.studies.rosenberg_xray import tables as RT

from test_deep_engine import fake_rows
from test_rosenberg_xray import fake_predictions

torch.set_num_threads(1)


def test_projected_lesion_on_the_drr_grid_and_only_fracture_codes_of_the_vertebra():
    lab = np.zeros((20, 30, 10), np.uint8)
    lab[5:15, 5:25, 2:8] = 20
    les = np.zeros_like(lab)
    les[7:9, 10:15, 3:6] = L.LESION_CODES["fracture_line"]     # in the vertebra: counts
    les[12, 20, 4] = L.LESION_CODES["schmorl_node"]             # another finding: does not
    les[17, 10:15, 4] = L.LESION_CODES["impaction_band"]        # neighbour's slices: does not
    m = LS.projected_lesion(les, lab, 20, (1.0, 1.0, 1.0))
    assert m.shape == (40, 60)                                 # 0.5 mm pixels, superior row 0
    rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
    assert list(rows) == list(range(22, 26)) and list(cols) == list(range(20, 30))


def test_hits_peak_and_topk_against_a_planted_mask():
    mask = np.zeros((2, 10, 10), bool)
    mask[:, :5, :5] = True
    on = np.zeros((10, 10))
    on[2, 2] = 1.0                     # peak inside the planted quadrant
    off = np.zeros((10, 10))
    off[8, 8] = 1.0
    h = LS.hits(np.stack([on, off]), mask)
    assert h["peak_on_lesion"].tolist() == [True, False]
    assert h["topk_mass_share"].tolist() == [1.0, 0.0] and h["lesion_area_share"].tolist() == [0.25, 0.25]
    h["pred"] = ["1", "0"]
    s = LS.summary(h, "resnet18", 0.81).set_index("subset")
    assert s.loc["fractured", "peak_hit_fraction"] == 0.5 and s.loc["fractured", "n"] == 2
    assert s.loc["fractured, predicted fracture (TP)", "peak_hit_fraction"] == 1.0
    assert s.loc["fractured", "chance_lesion_area_share"] == 0.25 and s.loc["fractured", "published"] == 0.81
    assert s.loc["fractured", "peak_ci_method"].startswith("Wilson")  # no case ids: crops independent


def test_cam_hit_ci_resamples_patients_when_they_repeat():
    rng = np.random.default_rng(0)
    hit = rng.random(20) < 0.5
    base = pd.DataFrame({"case_id": [f"p{i}" for i in range(20)], "lesion_pixels": 5, "lesion_area_share": 0.3,
                         "peak_on_lesion": hit, "topk_mass_share": 0.2, "pred": "1"})
    twice = pd.concat([base, base], ignore_index=True)   # every patient's crop seen twice
    a = LS.summary(base, "resnet18", 0.81).iloc[0]
    b = LS.summary(twice, "resnet18", 0.81).iloc[0]
    assert a["peak_ci_method"].startswith("Wilson") and b["peak_ci_method"].startswith("cluster bootstrap")
    assert "of 20 patients" in b["peak_ci_method"]
    # the patient bootstrap of the duplicated crops is as wide as the 20 independent ones' Wilson CI
    assert abs((b["peak_ci_high"] - b["peak_ci_low"]) - (a["peak_ci_high"] - a["peak_ci_low"])) < 0.1


def test_figure4_notes_cover_every_published_inconsistency():
    notes = " | ".join(RT.figure4_inconsistencies())
    for s in ("specificity printed 88% but its matrix gives 25/28 = 89.3%",
              "specificity printed 79% but its matrix gives 25/30 = 83.3%",
              "sensitivity printed 89% but its matrix gives 21/24 = 87.5%",
              "sensitivity printed 89% but its matrix gives 19/22 = 86.4%",
              "resnet18 28 no fracture + 24 fracture; vgg16 30 no fracture + 22 fracture"):
        assert s in notes


def _clustered(n_pat=30, seed=0):
    p = fake_predictions(n_pat, seed)
    p["case_id"] = [f"c{i:010x}" for i in range(n_pat)]
    return p


def test_auc_ci_resamples_patients_not_crops():
    one = _clustered()
    m1 = rx.binary_metrics(one)
    assert m1["auc_ci_method"] == "DeLong"                       # one crop per patient
    dup = pd.concat([one, one.assign(level="L2"), one.assign(level="L3")]).reset_index(drop=True)
    m3 = rx.binary_metrics(dup)
    assert m3["auc_ci_method"] == "cluster bootstrap" and m3["auc"] == pytest.approx(m1["auc"])
    # tripling every patient's crops leaves the patient-level CI about as wide; DeLong on the
    # crops would shrink it by about 1/sqrt(3)
    w1, w3 = m1["auc_ci_high"] - m1["auc_ci_low"], m3["auc_ci_high"] - m3["auc_ci_low"]
    assert 0.75 * w1 < w3 < 1.3 * w1
    from vfrepro.stats.roc import delong_ci
    d = delong_ci((dup.truth == "1").astype(int).to_numpy(), dup.prob_1.to_numpy())
    assert d.ci_high - d.ci_low < 0.7 * w1


def test_evaluate_writes_chosen_tables_md_and_figs_2_3(tmp_path):
    rows = fake_rows(tmp_path, n_patients=8)
    rows["ao_type"] = np.where(rows.fracture == 1, "A1", None)
    rows.loc[rows.case_id.isin(rows.case_id.unique()[:4]), "split"] = "internal"
    rows.to_csv(tmp_path / "manifest.csv", index=False)
    test = rows[rows.split == "internal"].reset_index(drop=True)
    p = fake_predictions(len(test), seed=2)
    p[["case_id", "level"]] = test[["case_id", "level"]]
    p["truth"] = test["fracture"].astype(str)
    p.to_csv(tmp_path / "a.csv", index=False)
    args = ["rosenberg_xray", "evaluate", "--archs", "resnet18", "--predictions", str(tmp_path / "a.csv"),
            "--manifest", str(tmp_path / "manifest.csv"), "--n-boot", "200"]
    assert main(args + ["--out", str(tmp_path / "o"), "--cohort-source", "synthetic"]) == 0
    o = tmp_path / "o"
    chosen = pd.read_csv(o / "chosen.csv")
    assert {"trainable.resnet18 (paper preset)", "cam.lesion_truth", "cohort.source"} <= set(chosen.setting)
    md = (o / "tables.md").read_text()
    assert "Synthetic cohort" in md and "cluster bootstrap" in md and "25/30 = 83.3%" in md
    d = pd.read_csv(o / "figures2_3.csv")
    assert d[d.by == "level"]["test"].sum() == (test.fracture == 1).sum()
    assert d[d.by == "ao_type"].set_index("value").loc["A1", "all"] == (rows.fracture == 1).sum()
    assert (o / "figures2_3.png").stat().st_size > 0
    m = pd.read_csv(o / "metrics.csv")
    assert m.loc[0, "auc_ci_method"] == "cluster bootstrap"
    # a real cohort: no synthetic note, same numbers
    assert main(args + ["--out", str(tmp_path / "r"), "--cohort-source", "manifest"]) == 0
    assert "Synthetic cohort" not in (tmp_path / "r" / "tables.md").read_text()
    assert "cohort.source" not in set(pd.read_csv(tmp_path / "r" / "chosen.csv").setting)
    assert pd.read_csv(tmp_path / "r" / "metrics.csv").equals(m)


def test_cam_lesion_outputs_and_verdict_row(tmp_path):
    rows = fake_rows(tmp_path, n_patients=6)
    rows.loc[rows.case_id.isin(rows.case_id.unique()[:2]), "split"] = "internal"
    rows.to_csv(tmp_path / "manifest.csv", index=False)
    cfg = {"seed": 1, "input_size": 32, "train": {"epochs": 1, "batch_size": 8}, "cv": {"folds": 0}}
    out = tmp_path / "rx"
    assert main(["rosenberg_xray", "train", "--arch", "resnet18", "--manifest", str(tmp_path / "manifest.csv"),
                 "--config-json", json.dumps(cfg), "--out", str(out / "resnet18"), "--no-progress"]) == 0
    # without lesion maps (a real cohort) the check says so instead of inventing a number
    assert main(["rosenberg_xray", "cam", "--model", str(out / "resnet18" / "model.pt"), "--predictions",
                 str(out / "resnet18" / "predictions.csv"), "--manifest", str(tmp_path / "manifest.csv"),
                 "--out-png", str(out / "cam.png"), "--out-csv", str(out / "cam.csv"),
                 "--out-lesion-csv", str(out / "cam_resnet18_lesion.csv"),
                 "--out-lesion-summary", str(out / "cam_resnet18_lesion_summary.csv"), "--per-group", "1"]) == 0
    s = pd.read_csv(out / "cam_resnet18_lesion_summary.csv")
    assert (s.n == 0).all() and "not measured" in s.reading[0] and (s.published == 0.81).all()
    # the verdict table shows the published 81% beside what the run gave
    pd.DataFrame([{"model": "resnet18", "init": "", **rx.binary_metrics(fake_predictions())}]).to_csv(
        out / "metrics.csv", index=False)
    v = verdict.verdicts("rosenberg_xray", RT.reproduced_long(out)).set_index("quantity")
    assert v.loc["cam_on_fracture_zone", "published"] == 0.81
    assert "not measured" in v.loc["cam_on_fracture_zone", "reason"]
    # with a measured summary the value and the reading reach the verdict
    s.loc[:, ["n", "peak_hit_fraction", "chance_lesion_area_share", "topk_hit_fraction"]] = [20, 0.6, 0.3, 0.4]
    s.to_csv(out / "cam_resnet18_lesion_summary.csv", index=False)
    v = verdict.verdicts("rosenberg_xray", RT.reproduced_long(out)).set_index("quantity")
    assert v.loc["cam_on_fracture_zone", "reproduced"] == 0.6
    assert "chance 30%" in v.loc["cam_on_fracture_zone", "reason"]
