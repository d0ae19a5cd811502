"""`vfrepro liu2025_dlr STAGE` end to end on tiny fake features: each stage reads only its
config keys (a missing one is an error naming it), the library computes, the CLI writes."""

import json

import numpy as np
import pandas as pd
import pytest

from vfrepro.cli import main
from vfrepro.evaluate.schema import read
from vfrepro import registry

from test_liu2025_leakage import CFG, GRIDS, _cohort, _features

SELECT = {k: CFG[k] for k in ("icc_threshold", "icc_form", "spearman_threshold", "lasso_folds", "lasso_rule",
                              "min_features", "corr_threshold")}


def run(stage, cfg, **opts):
    args = ["liu2025_dlr", stage, "--cfg", json.dumps(cfg)]
    for k, v in opts.items():
        args += [f"--{k.replace('_', '-')}", *([str(x) for x in v] if isinstance(v, list) else [str(v)])]
    return main(args)


@pytest.fixture(scope="module")
def branch(tmp_path_factory):
    d = tmp_path_factory.mktemp("liu")
    c = _cohort()
    rng = np.random.default_rng(4)
    c["t_score"] = rng.normal(-2.5, 0.5, len(c))
    c["pain"] = rng.choice(["none", "positional", "persistent"], len(c))
    c.to_csv(d / "cohort.csv", index=False)
    r1, r2, dtl = _features(c, 1)
    r1.to_csv(d / "r1.csv")
    r2.to_csv(d / "r2.csv")
    dtl = dtl.reset_index()
    dtl.insert(1, "mask_label", dtl["key"].str.split(":").str[1].astype(int))
    dtl.insert(0, "case_id", dtl.pop("key").str.split(":").str[0])
    dtl.to_csv(d / "dtl.csv", index=False)
    assert run("combat", {"combat": {"covariates": ["age", "sex"], "parametric": True}}, cohort=d / "cohort.csv",
               features=d / "r1.csv", out=d / "harm.csv", model=d / "combat.json", info=d / "combat_info.json") == 0
    assert run("select", {"seed": 0, "select": SELECT}, cohort=d / "cohort.csv", harmonised=d / "harm.csv",
               reader1=d / "r1.csv", reader2=d / "r2.csv", outdir=d / "sel") == 0
    assert run("fuse", {"seed": 0, "select": SELECT, "deep": {"pca_components": 4}}, cohort=d / "cohort.csv",
               harmonised=d / "harm.csv", selected=d / "sel" / "selected_radiomics.json", dtl=d / "dtl.csv",
               out=d / "fused.csv", model=d / "fusion.joblib", summary=d / "fusion.json", backbone="radimagenet",
               lasso_path=d / "lasso_path.csv", lasso_cv=d / "lasso_cv.csv", radscore_coef=d / "radscore.csv",
               path_png=d / "lasso_path.png", importance_png=d / "lasso_imp.png", radscore_png=d / "radscore.png") == 0
    for bb in ("radimagenet", "imagenet"):
        assert run("classify", {"seed": 0, "classify": {"grids": GRIDS, "cv_folds": 3}}, fused=d / "fused.csv",
                   models=d / f"models_{bb}.joblib", cv=d / f"cv_{bb}.csv", predictions=d / f"pred_{bb}.csv",
                   oof=d / f"oof_{bb}.csv") == 0
    return d


def test_stages_write_their_outputs_in_the_schema(branch):
    d = branch
    for f in ("step1_icc.csv", "step3_lasso.json", "step4_corr_dropped.csv", "selected_radiomics.json"):
        assert (d / "sel" / f).stat().st_size > 0
    assert json.loads((d / "combat_info.json").read_text())["n_train"] > 0
    pred = read(d / "pred_radimagenet.csv", ["0", "1", "2"])
    assert len(pred) == len(pd.read_csv(d / "cohort.csv")) and (pred["patient"] == pred["case_id"]).all()
    assert run("evaluate", {"seed": 1, "evaluate": {"n_boot": 20}}, pred_radimagenet=d / "pred_radimagenet.csv",
               pred_imagenet=d / "pred_imagenet.csv", metrics=d / "metrics.csv", delong=d / "delong.csv",
               roc_radimagenet=d / "roc1.png", roc_imagenet=d / "roc2.png") == 0
    m = pd.read_csv(d / "metrics.csv")
    assert set(m["split"]) == {"train", "internal", "external", "prospective"}
    dl = pd.read_csv(d / "delong.csv")
    assert (dl["p"].dropna() == 1).all()  # the same model twice: identical curves
    meta = d / "meta.json"
    meta.write_text(json.dumps({"config": {"backbone": "radimagenet", "finetune_epochs": 0, "n_slices": 3}, "init": "random",
                                "device": "cpu"}))
    bbs = ("radimagenet", "imagenet")
    oof = {}
    for bb in bbs:  # the classify stage's out-of-fold file when it writes one, else its training rows
        oof[bb] = d / f"oof_{bb}.csv"
        if not oof[bb].is_file():
            p = pd.read_csv(d / f"pred_{bb}.csv")
            p[p["split"] == "train"].to_csv(oof[bb], index=False)
    t3cfg = {"seed": 1, "radiomics": {"params": "", "bin_width": 25},
             "combat": {"covariates": ["age", "sex"], "unseen_sites": "estimate"}}
    assert run("table3", t3cfg, metrics=d / "metrics.csv", deep_meta=[meta], csv=d / "t3.csv",
               md=d / "t3.md", tex=d / "t3.tex", cohort_source="manifest",
               predictions=[f"{bb}={d / f'pred_{bb}.csv'}" for bb in bbs], oof=[f"{bb}={oof[bb]}" for bb in bbs],
               fusion=[f"{bb}={d / 'fusion.json'}" for bb in bbs], thresholds=d / "thr.csv", chosen=d / "chosen.csv") == 0
    t3 = pd.read_csv(d / "t3.csv")
    assert t3.loc[t3["class"] == "macro", "prospective_published"].tolist() == [
        "0.732 / 0.852 (0.732-0.951)", "0.429 / 0.648 (0.466-0.799)"]
    assert t3.loc[t3["class"] == "class 1", "train_published"].tolist() == [
        "0.825 / 0.905 (0.884-0.925)", "0.964 / 0.996 (0.994-0.999)"]
    md = (d / "t3.md").read_text()
    assert "Published winners: RadImageNet MLP, ImageNet LightGBM" in md
    assert "synthetic cohort" not in md  # cohort.source: manifest
    assert {"argmax", "youden_oof"} == set(pd.read_csv(d / "thr.csv")["method"])
    assert "multinomial" in " ".join(pd.read_csv(d / "chosen.csv")["value"])
    assert not (d / "provenance.json").exists()


def test_nomogram_predictions_follow_the_schema(branch):
    d = branch
    # t_score and pain are ASTLOF components: allowed here by the flag, which the outputs record
    assert run("nomogram", {"nomogram": {"clinical": ["age", "sex", "t_score", "pain"], "alpha": 1.0,
                                         "model": "ordinal", "allow_label_components": True}},
               fused=d / "fused.csv", cohort=d / "cohort.csv", summary=d / "nom.json", nomogram=d / "nom.png",
               calibration=d / "cal.png", predictions=d / "nom_pred.csv") == 0
    p = read(d / "nom_pred.csv", ["0", "1", "2"])
    assert set(p["model"]) == {"ordinal"} and len(p) == len(pd.read_csv(d / "fused.csv"))
    nom = json.loads((d / "nom.json").read_text())
    assert nom["selected_clinical"] == ["age", "sex", "t_score", "pain"] and nom["allow_label_components"] is True


@pytest.mark.parametrize("stage,cfg,missing", [
    ("combat", {"combat": {"covariates": ["age"]}}, "combat.parametric"),
    ("select", {"select": SELECT}, "seed"),
    ("classify", {"seed": 0, "classify": {"grids": GRIDS}}, "classify.cv_folds"),
])
def test_a_missing_config_key_is_named(branch, capsys, stage, cfg, missing):
    d = branch
    opts = {"combat": dict(cohort=d / "cohort.csv", features=d / "r1.csv", out=d / "x.csv", model=d / "x.json",
                           info=d / "xi.json"),
            "select": dict(cohort=d / "cohort.csv", harmonised=d / "harm.csv", reader1=d / "r1.csv",
                           reader2=d / "r2.csv", outdir=d / "xsel"),
            "classify": dict(fused=d / "fused.csv", models=d / "x.joblib", cv=d / "xcv.csv",
                             predictions=d / "xp.csv", oof=d / "xoof.csv")}[stage]
    assert run(stage, cfg, **opts) == 2
    err = capsys.readouterr().err
    assert f"lacks key '{missing}'" in err and "Traceback" not in err
    rule = {"select": "select_radiomics"}.get(stage, stage)
    listed = registry.get("liu2025_dlr").stage_config[rule]
    assert any(missing == k or missing.startswith(k + ".") for k in listed), (missing, listed)


def test_shap_reads_its_keys(branch):
    d = branch
    outs = {o: [d / f"{o}{k}.png" for k in range(3)] for o in ("bar", "beeswarm", "decision")}
    assert run("shap", {"seed": 0, "shap": {"max_cases": 6, "background": 3, "nsamples": 20}},
               backbone="radimagenet", models=d / "models_radimagenet.joblib", fused=d / "fused.csv",
               table=d / "shap.csv", bar_stacked=d / "stacked.png",
               prospective_decision=[d / f"pro{k}.png" for k in range(3)], prospective_table=d / "pro.csv", **outs) == 0
    assert (d / "stacked.png").stat().st_size and all((d / f"pro{k}.png").stat().st_size for k in range(3))
    t = pd.read_csv(d / "shap.csv")
    assert {"feature", "overall", "explainer"} <= set(t.columns) and all(p.stat().st_size for p in outs["bar"])
