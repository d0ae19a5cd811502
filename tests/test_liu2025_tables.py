"""liu2025_dlr Table 3: every published cell beside the reproduced one, the per-class Youden
thresholds fitted on out-of-fold training scores, the feature counts and the deviations block."""

import json
import subprocess

import numpy as np
import pandas as pd
import pytest

from vfrepro import provenance
from vfrepro.cli import main
from vfrepro.evaluate import published as pub
from vfrepro.evaluate import verdict as V
from vfrepro.studies.liu2025_dlr import evaluation as E
from vfrepro.studies.liu2025_dlr import tables as T
from vfrepro.studies.liu2025_dlr import thresholds as TH

P = pub.load("liu2025_dlr")
BBS = ("radimagenet", "imagenet")
SPLITS = ("train", "internal", "external", "prospective")


def _preds(seed: int, n_per_split=(60, 30, 30, 24), model="M") -> pd.DataFrame:
    """Predictions in the classify stage's columns: 2 vertebrae per patient, scores that carry signal."""
    rng = np.random.default_rng(seed)
    rows = []
    for s, n in zip(SPLITS, n_per_split):
        truth = rng.integers(0, 3, n)
        logits = rng.normal(0, 1, (n, 3))
        logits[np.arange(n), truth] += 1.2
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        for i in range(n):
            case = f"{s[:2]}{i // 2:03d}"
            rows.append({"case_id": case, "mask_label": 18 + i % 2, "patient": case, "split": s,
                         "truth": str(truth[i]), "prob_0": p[i, 0], "prob_1": p[i, 1], "prob_2": p[i, 2],
                         "pred": str(int(p[i].argmax())), "model": model})
    return pd.DataFrame(rows)


def _oof(pred: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Out-of-fold training scores: the training rows with scores of another (noisier) model."""
    o = pred[pred["split"] == "train"].copy()
    rng = np.random.default_rng(seed)
    q = o[["prob_0", "prob_1", "prob_2"]].to_numpy() * rng.uniform(0.5, 1.5, (len(o), 3))
    o[["prob_0", "prob_1", "prob_2"]] = q / q.sum(axis=1, keepdims=True)
    return o


FUSION = {"radimagenet": {"n_radiomics": 6, "n_dtl": 5, "pca_components": 16, "pca_explained_variance": 0.9,
                          "lasso": {"lambda": 0.0474, "rule": "lambda.min"}},
          "imagenet": {"n_radiomics": 7, "n_dtl": 9, "pca_components": 16, "pca_explained_variance": 0.88,
                       "lasso": {"lambda": 0.0312, "rule": "lambda.min"}}}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("liu_t3")
    preds = {bb: _preds(i, model=m) for i, (bb, m) in enumerate(zip(BBS, ("MLP", "LightGBM")))}
    oof = {bb: _oof(p, 10 + i) for i, (bb, p) in enumerate(preds.items())}
    for bb in BBS:
        (d / bb).mkdir()
        preds[bb].to_csv(d / bb / "predictions.csv", index=False)
        oof[bb].to_csv(d / bb / "oof_predictions.csv", index=False)
        (d / bb / "fusion.json").write_text(json.dumps(FUSION[bb]))
        (d / f"{bb}_meta.json").write_text(json.dumps({"config": {"backbone": bb, "finetune_epochs": 0, "n_slices": 3},
                                                       "init": "random init (seed 1)", "device": "cpu"}))
    m = E.metrics(preds, 20, 0)
    m.to_csv(d / "metrics.csv", index=False, float_format="%.8g")
    return d, preds, oof


def test_every_table3_cell_is_published_with_the_papers_numbers():
    for bb in BBS:
        for r in ("class 0", "class 1", "class 2", "macro"):
            for s in SPLITS:
                assert P.get(f"{bb} {r}", s, "accuracy") is not None, (bb, r, s)
                assert P.get(f"{bb} {r}", s, "macro_auc" if r == "macro" else "auc")["ci_low"] > 0, (bb, r, s)
    assert P.value("imagenet class 1", "external", "accuracy") == 0.560
    r = P.get("imagenet class 1", "external", "auc")
    assert (r["value"], r["ci_low"], r["ci_high"]) == (0.551, 0.445, 0.656)
    r = P.get("radimagenet class 2", "train", "auc")
    assert (r["value"], r["ci_low"], r["ci_high"]) == (0.953, 0.934, 0.973)
    assert P.value("imagenet class 0", "prospective", "accuracy") == 0.625
    assert [P.value(b, "", q) for b in BBS for q in ("n_radiomics", "n_dtl", "lasso_lambda")] == [
        17, 16, 0.0031, 17, 37, 0.0295]


def test_table3_reads_published_everywhere_and_shows_both_per_class_readings(run):
    d, preds, oof = run
    m = pd.read_csv(d / "metrics.csv", dtype={"class": str})
    thr = TH.per_class(preds, oof)
    t, md, tex = E.table3(m, {"seed": 0}, thr, FUSION, T.chosen_table({}, [], FUSION, {}))
    assert "not published" not in md and not t.astype(str).apply(lambda c: c.str.contains("not published")).any().any()
    row = t[(t["backbone"] == "ImageNet") & (t["class"] == "class 1")].iloc[0]
    assert row["external_published"] == "0.560 / 0.551 (0.445-0.656)"
    youden = thr[(thr["method"] == "youden_oof") & (thr["backbone"] == "imagenet") & (thr["split"] == "external")
                 & (thr["class"] == "1")]["accuracy"].iloc[0]
    assert row["external_reproduced_youden"] == f"{youden:.3f}"
    assert "argmax" in md and "Youden threshold fitted on out-of-fold training scores" in md
    assert "twice the overall error" in md
    # the check of the paper's numbers is computed from the records: ImageNet prospective
    err = sum(1 - P.value(f"imagenet class {k}", "prospective", "accuracy") for k in range(3))
    assert f"| ImageNet | prospective validation | {err:.3f} | {2 * (1 - 0.429):.3f} |" in md
    assert "| RadImageNet | 6 | 17 | 5 | 16 | 16 | 0.0474 | 0.0031 |" in md
    assert "## Deviations from the paper" in md and "LASSO-Cox" in md
    assert "not published" not in tex


def test_argmax_rows_are_argmax_and_youden_is_fitted_on_out_of_fold_training_only(run):
    d, preds, oof = run
    thr = TH.per_class(preds, oof)
    a = thr[thr["method"] == "argmax"]
    for (bb, s), g in a.groupby(["backbone", "split"]):
        p = preds[bb][preds[bb]["split"] == s]
        overall = (p["pred"] == p["truth"]).mean()
        # argmax: per-class errors sum to twice the overall error
        assert (1 - g["accuracy"]).sum() == pytest.approx(2 * (1 - overall))
    # the threshold maximises J on the out-of-fold training scores (brute force over their values)
    o = oof["radimagenet"]
    y, sc = (o["truth"] == "2").to_numpy(), o["prob_2"].to_numpy()
    J = [(sc[y] >= t).mean() + (sc[~y] < t).mean() - 1 for t in sc]
    t_fit = TH.fit(o)["2"]
    assert (sc[y] >= t_fit).mean() + (sc[~y] < t_fit).mean() - 1 == pytest.approx(max(J))
    # validation rows (and the refit model's in-sample training scores) never move it; OOF scores do
    moved = {bb: p.assign(prob_2=np.where(p["split"] != "train", 1 - p["prob_2"], p["prob_2"]))
             for bb, p in preds.items()}
    y2 = TH.per_class(moved, oof)
    tcol = lambda t: t.loc[t["method"] == "youden_oof", "threshold"].to_numpy()  # noqa: E731
    assert np.array_equal(tcol(y2), tcol(thr))
    assert TH.fit(_oof(preds["radimagenet"], 99))["2"] != t_fit
    # applied as score >= threshold
    r = thr[(thr["method"] == "youden_oof") & (thr["backbone"] == "radimagenet") & (thr["split"] == "internal")
            & (thr["class"] == "2")].iloc[0]
    v = preds["radimagenet"][preds["radimagenet"]["split"] == "internal"]
    assert r["accuracy"] == pytest.approx(((v["prob_2"] >= r["threshold"]) == (v["truth"] == "2")).mean())


def test_youden_threshold_matches_pROC():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 80)
    s = np.round(rng.normal(y * 0.8, 1), 3)
    t = TH.youden(y, s)
    j = (s[y == 1] >= t).mean() + (s[y == 0] < t).mean() - 1
    code = ("suppressMessages(library(pROC)); d <- read.csv(file('stdin')); "
            "r <- roc(d$y, d$s, direction='<', quiet=TRUE); "
            "b <- coords(r, 'best', best.method='youden', ret=c('sensitivity','specificity')); "
            "cat(sprintf('%.12f', max(b$sensitivity + b$specificity - 1)))")
    try:
        out = subprocess.run(["Rscript", "-e", code], input=pd.DataFrame({"y": y, "s": s}).to_csv(index=False),
                             capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        pytest.skip("Rscript not installed")
    assert out.returncode == 0, out.stderr
    assert j == pytest.approx(float(out.stdout), abs=1e-9)


def test_no_training_rows_in_the_oof_file_is_refused():
    from vfrepro.errors import InputError
    with pytest.raises(InputError, match="training"):
        TH.fit(_preds(0).query("split == 'external'"))


def test_chosen_lists_the_deviations_checked_against_code_and_run():
    from vfrepro.radiomics.extract import load_params
    c = T.chosen_table(load_params(None, 25), [{"config": {"backbone": "imagenet", "finetune_epochs": 0,
                                                           "n_slices": 3}, "init": "random init (seed 2)"}],
                       FUSION, {"combat": {"covariates": ["age", "sex"], "unseen_sites": "estimate"}})
    s = c.set_index("setting")
    assert {"tables", "thresholds"} <= set(c["module"])
    assert s.loc["image normalize (in force)", "value"] == "False"  # the package params file
    assert s.loc["GLCM MCC (in force)", "value"] == "not extracted"
    assert "random network" in s.loc["imagenet weights", "reason"]
    assert s.loc["imagenet fine-tuning epochs", "value"] == "0"
    assert s.loc["radimagenet DTL PCA components", "value"] == "16"
    assert "multinomial" in s.loc["radiomics selection LASSO", "value"]
    # the fusion LASSO's reading of "LASSO-Cox" is listed (by the module that fits it)
    assert c["reason"].str.contains("LASSO-Cox").any()


def test_cli_writes_thresholds_and_chosen_and_says_synthetic_only_when_it_is(run, tmp_path):
    d, _, _ = run
    cfg = json.dumps({"seed": 0, "radiomics": {"params": "", "bin_width": 25},
                      "combat": {"covariates": ["age", "sex"], "unseen_sites": "estimate"}})
    for source in ("synthetic", "manifest"):
        o = tmp_path / source
        assert main(["liu2025_dlr", "table3", "--cfg", cfg, "--metrics", str(d / "metrics.csv"),
                     "--deep-meta", *(str(d / f"{bb}_meta.json") for bb in BBS),
                     "--predictions", *(f"{bb}={d / bb / 'predictions.csv'}" for bb in BBS),
                     "--oof", *(f"{bb}={d / bb / 'oof_predictions.csv'}" for bb in BBS),
                     "--fusion", *(f"{bb}={d / bb / 'fusion.json'}" for bb in BBS), "--cohort-source", source,
                     "--csv", str(o / "t3.csv"), "--md", str(o / "t3.md"), "--tex", str(o / "t3.tex"),
                     "--thresholds", str(o / "thr.csv"), "--chosen", str(o / "chosen.csv")]) == 0
        md = (o / "t3.md").read_text()
        assert ("synthetic cohort" in md) == (source == "synthetic")
        thr = pd.read_csv(o / "thr.csv")
        assert len(thr) == 2 * 4 * 3 * 2 and {"threshold", "accuracy", "sensitivity", "specificity"} <= set(thr)
        ch = pd.read_csv(o / "chosen.csv")
        rec = provenance.collect({}, "liu2025_dlr", outputs=[str(o / "chosen.csv")])
        assert len(rec["chosen"]) == len(ch) and "Deviations from the paper" in provenance.to_markdown(rec)
    # the same inputs give byte-identical tables
    assert (tmp_path / "synthetic/thr.csv").read_bytes() == (tmp_path / "manifest/thr.csv").read_bytes()
    assert main(["liu2025_dlr", "table3", "--cfg", cfg, "--metrics", str(d / "metrics.csv"), "--deep-meta",
                 str(d / "imagenet_meta.json"), "--oof", f"densenet={d / 'imagenet/oof_predictions.csv'}",
                 "--cohort-source", "synthetic", "--csv", str(tmp_path / "x.csv"), "--md", str(tmp_path / "x.md"),
                 "--tex", str(tmp_path / "x.tex")]) == 2


def test_verdicts_read_the_new_records(run):
    d, _, _ = run
    long = T.reproduced_long(d)
    t = V.verdicts("liu2025_dlr", long).set_index(["row", "column", "quantity"])
    assert len(t) == len(P.records)
    assert t.loc[("imagenet", "", "n_dtl"), "reproduced"] == 9
    assert t.loc[("imagenet", "", "n_dtl"), "verdict"] == "not evaluable"
    assert "fusion LASSO's CV" in t.loc[("radimagenet", "", "lasso_lambda"), "reason"]
    assert t.loc[("imagenet class 1", "external", "auc"), "verdict"] in ("consistent", "inconsistent")
    assert "the same" in t.loc[("imagenet", "", "best_model"), "reason"]
