"""`vfrepro liu2025_dlr STAGE`: the liu2025_dlr branch's stages (one Snakemake rule each).

Config comes as one JSON object (``--cfg``) holding only the keys the stage reads (the
registry's stage_config of its rule), so a config change reruns only the stages that read it. A key missing from it is an InputError naming the key. The study modules
compute and return; this layer reads inputs and writes every output file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..cli_common import guard, need, parse_cfg, read_csv, study_parser, write_json, write_table
from .cohort import CLASSES

CLASS_NAMES = [str(k) for k in CLASSES]


def _cfg(a) -> dict:
    return parse_cfg(a.cfg)


def _cohort(path):
    return read_csv(path, dtype={"case_id": str, "site": str, "key": str})


def _fused(path):
    return read_csv(path, index_col="key", dtype={"case_id": str})


def _cmd_cohort(a):
    from . import cohort as C
    c = _cfg(a)
    t = C.build_cohort(a.manifest, a.passed, a.preprocess_dir, need(c, "label", C.LABEL_COL),
                       need(c, "vertebrae", "fractured"))
    for note in C.check_classes(t):
        print(f"warning: {note}", file=sys.stderr)
    t.to_csv(a.out, index=False)
    print(f"{C.STUDY} cohort: {len(t)} vertebrae of {t['case_id'].nunique()} cases; classes "
          f"{t.groupby('split')['label'].value_counts().to_dict()}")


def _cmd_merge(a):
    from .features import merge_radiomics
    feats, errors = merge_radiomics(a.inputs, _cohort(a.cohort))
    for r in errors.itertuples():
        print(f"warning: dropped {r.key} reader {r.reader}: {r.message}", file=sys.stderr)
    r1 = feats[feats["reader"] == 1].drop(columns="reader").set_index("key").sort_index()
    r2 = feats[feats["reader"] == 2].drop(columns="reader").set_index("key").sort_index()
    r1.to_csv(a.out_reader1)
    r2.to_csv(a.out_reader2)
    errors.to_csv(a.out_errors, index=False)
    print(f"radiomics: reader 1 {r1.shape}, reader 2 {r2.shape}, {len(errors)} failed vertebra extraction(s)")


def _cmd_combat(a):
    from vfrepro.cohort.manifest import COMBAT_COVARIATES
    from vfrepro.errors import InputError
    from vfrepro.harmonize.checks import check_covariates

    from .features import harmonise
    c = _cfg(a)
    key = "liu2025_dlr.combat.covariates"
    covariates = need(c, "combat.covariates")
    features, cohort = read_csv(a.features, index_col="key"), _cohort(a.cohort)
    if covariates:  # the design ComBat would refuse, named by config key and site, before the fit
        seen = cohort[cohort["key"].isin(features.index)]
        check_covariates(seen, list(covariates), seen["split"] == "train", config_key=key,
                         categorical=COMBAT_COVARIATES["liu2025_dlr"][1], path=Path(a.cohort).name)
    try:
        harm, info, model = harmonise(features, cohort, covariates, need(c, "combat.parametric"),
                                      need(c, "combat.unseen_sites", "estimate"))
    except ValueError as exc:  # what the checks above do not foresee: still one line
        raise InputError(f"ComBat refused the design: {exc} (covariates from {key})",
                         field=key) from None
    model.save(a.model)
    harm.to_csv(a.out, float_format="%.10g")
    write_json(info, a.info)
    for site, n in info["unseen_sites_estimated_from_own_rows"].items():
        print(f"note: site {site} is not in training; its location/scale were estimated from its own "
              f"{n} vertebrae (label-free) on the training fit's scale")
    if info["unseen_sites_passed_through"]:
        print(f"note: sites not in training, left unharmonised: {info['unseen_sites_passed_through']}")
    print(f"ComBat fitted on {info['n_train']} training vertebrae of sites {info['fitted_sites']}")


def write_steps(outdir, steps: dict) -> None:
    """Each selection step's table (CSV) or summary (JSON) under ``outdir``, by file name."""
    out = Path(outdir)
    for name, obj in steps.items():
        (write_json if name.endswith(".json") else write_table)(obj, out / name)


def _cmd_select(a):
    from .features import select_radiomics
    c = _cfg(a)
    sel = {k: need(c, f"select.{k}") for k in ("icc_threshold", "icc_form", "spearman_threshold", "lasso_folds",
                                                 "lasso_rule", "min_features", "corr_threshold")}
    kept, steps = select_radiomics(read_csv(a.harmonised, index_col="key"), read_csv(a.reader1, index_col="key"),
                                   read_csv(a.reader2, index_col="key"), _cohort(a.cohort), sel, need(c, "seed"))
    Path(a.outdir).mkdir(parents=True, exist_ok=True)
    write_steps(a.outdir, steps)
    print(f"radiomics selection: {steps['selected_radiomics.json']['counts']}")


def _cmd_deep(a):
    from ...deep.resnet_features import DeepConfig, run
    c = _cfg(a)
    d = {k: need(c, f"deep.{k}") for k in ("n_slices", "size", "finetune_epochs", "finetune_backbone", "lr_head",
                                           "lr_backbone", "batch_size", "device", "amp")}
    cfg = DeepConfig(backbone=a.backbone, weights=need(c, f"weights.{a.backbone}", ""), init=need(c, "weights.init"),
                     seed=need(c, "seed") + (0 if a.backbone == "radimagenet" else 1), **d)
    import torch
    torch.set_num_threads(max(1, a.threads))
    run(_cohort(a.cohort), cfg, a.out, a.meta, label_col="label")


def _cmd_fuse(a):
    import joblib
    from .cohort import BACKBONE_NAMES
    from .features import fuse, lasso_figures, lasso_tables
    c = _cfg(a)
    selected = json.loads(Path(a.selected).read_text())["selected"]
    dtl = read_csv(a.dtl, dtype={"case_id": str})
    dtl.index = dtl["case_id"].astype(str) + ":" + dtl["mask_label"].astype(str)
    dtl = dtl.drop(columns=["case_id", "mask_label"])
    cfg = {"lasso_folds": need(c, "select.lasso_folds"), "min_features": need(c, "select.min_features"),
           "pca_components": need(c, "deep.pca_components")}
    table, model, summary = fuse(read_csv(a.harmonised, index_col="key"), selected, dtl, _cohort(a.cohort), cfg,
                                 need(c, "seed"))
    write_table(table, a.out, index=True)
    joblib.dump(model, a.model)
    write_json(summary, a.summary)
    tabs = lasso_tables(model)
    write_table(tabs["path"], a.lasso_path)
    write_table(tabs["cv"], a.lasso_cv)
    write_table(tabs["radscore"], a.radscore_coef)
    lasso_figures(model, tabs, BACKBONE_NAMES.get(a.backbone, a.backbone), a.path_png, a.importance_png,
                  a.radscore_png)
    for w in summary["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    print(f"fusion: PCA kept {summary['pca_components']} DTL components ({summary['pca']['rule']}, explained "
          f"variance {summary['pca_explained_variance']:.3f}); LASSO kept {summary['n_radiomics']} radiomics + "
          f"{summary['n_dtl']} DTL features, lambda {summary['lasso']['lambda']:.4g}")


def _cmd_classify(a):
    from ...classify import save_models
    from .classifier import classify
    c = _cfg(a)
    best, table, models, meta, pred, oof = classify(_fused(a.fused), need(c, "classify.grids"),
                                                    need(c, "classify.cv_folds"), need(c, "seed"), a.threads)
    write_table(table, a.cv)
    save_models(models, a.models, meta)
    write_table(pred, a.predictions)
    write_table(oof, a.oof)
    r = table.set_index("model").loc[best]
    print(f"best classifier by CV macro AUC (ties: accuracy, then macro F1): {best} (AUC {r['cv_macro_auc']:.3f}, "
          f"accuracy {r['cv_accuracy']:.3f}, macro F1 {r['cv_f1_macro']:.3f})")


def _cmd_evaluate(a):
    from ...evaluate.figures import roc_figure
    from ...evaluate.schema import read
    from . import evaluation as E
    c = _cfg(a)
    n_boot, seed = need(c, "evaluate.n_boot"), need(c, "seed")
    preds = {"radimagenet": read(a.pred_radimagenet, CLASS_NAMES), "imagenet": read(a.pred_imagenet, CLASS_NAMES)}
    m = E.metrics(preds, n_boot, seed)
    write_table(m, a.metrics)
    write_table(E.delong(preds, n_boot, seed), a.delong)
    mc = E.macro_comparison(preds, n_boot, seed)
    if a.macro_comparison:
        write_table(mc, a.macro_comparison)
    for bb, path in (("radimagenet", a.roc_radimagenet), ("imagenet", a.roc_imagenet)):
        roc_figure(E.roc_panels(preds[bb]), path, E.roc_title(preds[bb], bb), band_boot=min(n_boot, 200), seed=seed)
    mac = m[(m["metric"] == "macro_auc")][["backbone", "split", "value", "ci_low", "ci_high"]]
    print(mac.to_string(index=False))
    print(mc[["split", "diff", "ci_low", "ci_high", "p", "p_holm", "n_patients"]].to_string(index=False))


def _cmd_shap(a):
    from ...classify import load_models
    import numpy as np
    from ...explain.shap_figures import decision_case, figures, shap_values, stacked_bar, top_features
    c = _cfg(a)
    seed, n = need(c, "seed"), need(c, "shap.max_cases")
    models, meta = load_models(a.models)
    best, feats = meta["best"], meta["features"]
    fused = _fused(a.fused)
    tr = fused[fused["split"] == "train"]
    ex = fused[fused["split"] != "train"].sort_index()
    if len(ex) > n:  # a fixed, seeded subset of the validation vertebrae
        ex = ex.sample(n=n, random_state=seed).sort_index()
    vals, expv, kind = shap_values(models[best], best, tr[feats], ex[feats], need(c, "shap.background"),
                                   need(c, "shap.nsamples"), seed)
    proba = models[best].predict_proba(ex[feats].to_numpy())
    classes = list(models[best].classes_)
    outs = {"bar": a.bar, "beeswarm": a.beeswarm, "decision": a.decision}
    figures(vals, expv, ex[feats], ex["label"].to_numpy(), proba, classes, outs, f"{a.backbone} {best}")
    title = f"{a.backbone} {best}"
    stacked_bar(vals, ex[feats], classes, a.bar_stacked, title)
    t = top_features(vals, feats, classes)
    t.insert(0, "explainer", kind)
    t.to_csv(a.table, index=False)
    # Fig 8: one prospective vertebra per true class, a seeded draw (not the best-looking one)
    pro = fused[fused["split"] == "prospective"].sort_index()
    rng = np.random.default_rng(seed)
    picks = {k: (str(rng.choice(pro.index[pro["label"] == k].to_numpy())) if (pro["label"] == k).any() else None)
             for k in classes}
    keys = [v for v in picks.values() if v is not None]
    rows = []
    if keys:
        pv, pexp, _ = shap_values(models[best], best, tr[feats], pro.loc[keys, feats], need(c, "shap.background"),
                                  need(c, "shap.nsamples"), seed)
        pp = models[best].predict_proba(pro.loc[keys, feats].to_numpy())
    for k, out in zip(CLASSES, a.prospective_decision):  # one file per study class, always
        if picks.get(k) is None:
            decision_case(0.0, None, None, feats, out, f"{title}: prospective, class {k}")
            continue
        i, j = keys.index(picks[k]), classes.index(k)
        decision_case(pexp[j], pv[i, :, j], pro.loc[picks[k], feats].to_numpy(float), feats, out,
                      f"{title}: prospective vertebra of class {k} (p = {pp[i, j]:.2f})")
        rows.append({"key": picks[k], "truth": int(k), "explainer": kind, "base_value": float(pexp[j]),
                     "model_output": float(pexp[j] + pv[i, :, j].sum()), "p_class": float(pp[i, j]),
                     "pred": int(classes[int(np.argmax(pp[i]))])})
    import pandas as pd
    pd.DataFrame(rows, columns=["key", "truth", "explainer", "base_value", "model_output", "p_class", "pred"]
                 ).to_csv(a.prospective_table, index=False, float_format="%.6g")
    print(f"SHAP ({kind}) of {best} on {len(ex)} validation vertebrae; top: {t['feature'].head(3).tolist()}; "
          f"prospective decision plots for class(es) {[int(r['truth']) for r in rows]}")


def _cmd_nomogram(a):
    from . import nomogram as N
    c = _cfg(a)
    summary, pred, fit = N.run(_fused(a.fused), _cohort(a.cohort), need(c, "nomogram.clinical"),
                               need(c, "nomogram.alpha"), need(c, "nomogram.model"),
                               need(c, "nomogram.allow_label_components", False))
    if summary["label_components_among_candidates"]:
        print(f"warning: nomogram.allow_label_components is true: ASTLOF component(s) "
              f"{summary['label_components_among_candidates']} are clinical candidates", file=sys.stderr)
    write_table(pred, a.predictions)
    N.draw(fit, a.nomogram, a.calibration)
    write_json(summary, a.summary)
    print(f"combined model: clinical {summary['selected_clinical']} + Radscore; performance {summary['performance']}")


def _cmd_table1(a):
    from . import table1 as T
    t = T.table1(_cohort(a.cohort))
    write_table(t, a.csv)
    Path(a.md).write_text(T.markdown(t))
    print(f"Table 1: {len(t)} rows")


def _cmd_table3(a):
    import pandas as pd
    from ...evaluate.schema import read
    from ...radiomics.extract import load_params
    from . import evaluation as E
    from . import tables as T
    from . import thresholds as TH
    c = _cfg(a)
    seed = need(c, "seed")
    # the radiomics params in force (the deviations block reports them); "" = the package file
    params = load_params(need(c, "radiomics.params") or None, need(c, "radiomics.bin_width"))
    combat = {k: need(c, f"combat.{k}") for k in ("covariates", "unseen_sites")}
    metrics = read_csv(a.metrics)
    metrics["class"] = metrics["class"].astype(str)
    preds = dict(_pairs(a.predictions, "--predictions", lambda p: read(p, CLASS_NAMES)))
    oof = dict(_pairs(a.oof, "--oof", lambda p: read(p, CLASS_NAMES)))
    fusion = dict(_pairs(a.fusion, "--fusion", lambda p: json.loads(Path(p).read_text())))
    metas = [json.loads(Path(f).read_text()) for f in a.deep_meta]
    thr = TH.per_class(preds, oof) if preds else None
    chosen = T.chosen_table(params, metas, fusion, {"combat": combat})
    t, md, tex = E.table3(metrics, E.provenance(seed, a.deep_meta, a.cohort_source), thr, fusion, chosen)
    write_table(t, a.csv)
    Path(a.md).write_text(md)
    Path(a.tex).write_text(tex)
    if a.thresholds:
        write_table(thr if thr is not None else pd.DataFrame(columns=TH.COLUMNS), a.thresholds)
    if a.chosen:
        write_table(chosen, a.chosen)
    print(md)


def _pairs(items, what, load):
    """BACKBONE=FILE pairs of the table3 stage, loaded; a bad pair is an InputError naming it."""
    from ...errors import InputError
    from .cohort import BACKBONES
    out = []
    for item in items or []:
        bb, sep, path = item.partition("=")
        if not sep or bb not in BACKBONES:
            raise InputError(f"{what} {item!r}: give BACKBONE=FILE with BACKBONE one of {list(BACKBONES)}", field=what)
        if not Path(path).is_file():
            raise InputError(f"{what}: file not found", path=path, field=what)
        out.append((bb, load(path)))
    return out


def add_parser(subparsers) -> None:
    sub = study_parser(subparsers, "liu2025_dlr", "liu2025_dlr branch stages (deep-learning radiomics, ASTLOF)")

    def step(name, fn, help_):
        s = sub.add_parser(name, help=help_, description=help_)
        s.add_argument("--cfg", default="", help="the liu2025_dlr config keys this stage reads (the registry's "
                       "stage_config of its rule), as one JSON object; a missing key is an error naming it")
        s.set_defaults(func=guard(fn))
        return s

    cohort_help = "vertebra table (CSV) written by `vfrepro liu2025_dlr cohort`"
    fused_help = "fused feature table (CSV, with Radscore) written by `vfrepro liu2025_dlr fuse`"
    s = step("cohort", _cmd_cohort, "vertebra table of the study from the validated manifest")
    s.add_argument("--manifest", required=True, help="validated manifest CSV (results/cohort/manifest.csv)")
    s.add_argument("--passed", required=True, help="text file of case ids that passed ingest, one per line")
    s.add_argument("--preprocess-dir", required=True,
                   help="folder of preprocessed cases (CASE/image.nii.gz, CASE/mask_reader1.nii.gz)")
    s.add_argument("--out", required=True, help="output vertebra table CSV (one row per vertebra, key CASE:LABEL)")
    s = step("merge", _cmd_merge, "merge per-case radiomics CSVs into reader tables")
    s.add_argument("--cohort", required=True, help=cohort_help)
    s.add_argument("--inputs", nargs="+", required=True,
                   help="per-case, per-reader radiomics CSVs written by `vfrepro radiomics`")
    s.add_argument("--out-reader1", required=True, help="output CSV of reader 1 features (index: key)")
    s.add_argument("--out-reader2", required=True, help="output CSV of reader 2 features (index: key)")
    s.add_argument("--out-errors", required=True, help="output CSV of vertebrae whose extraction failed")
    s = step("combat", _cmd_combat, "ComBat across sites, fitted on training vertebrae")
    s.add_argument("--cohort", required=True, help=cohort_help)
    s.add_argument("--features", required=True, help="reader 1 features CSV written by `vfrepro liu2025_dlr merge`")
    s.add_argument("--out", required=True, help="output CSV of harmonised features (index: key)")
    s.add_argument("--model", required=True, help="output JSON of the fitted ComBat model")
    s.add_argument("--info", required=True, help="output JSON: fitted sites, n_train, dropped and unseen sites")
    s = step("select", _cmd_select, "ICC -> Spearman -> LASSO -> correlation pruning of radiomics")
    s.add_argument("--cohort", required=True, help=cohort_help)
    s.add_argument("--harmonised", required=True, help="harmonised features CSV written by `vfrepro liu2025_dlr combat`")
    s.add_argument("--reader1", required=True, help="reader 1 features CSV written by `vfrepro liu2025_dlr merge` (ICC)")
    s.add_argument("--reader2", required=True, help="reader 2 features CSV written by `vfrepro liu2025_dlr merge` (ICC)")
    s.add_argument("--outdir", required=True,
                   help="output folder: step1..step4 CSVs and selected_radiomics.json")
    s = step("deep", _cmd_deep, "ResNet50 deep transfer features (2048-d) per vertebra")
    s.add_argument("--cohort", required=True, help=cohort_help + " (image and mask paths, labels, splits)")
    s.add_argument("--backbone", choices=("radimagenet", "imagenet"), required=True,
                   help="pretrained weights of the ResNet50 (paths from the config's weights section)")
    s.add_argument("--out", required=True, help="output CSV: case_id, mask_label, dtl_0..dtl_2047")
    s.add_argument("--meta", required=True, help="output JSON: config, init, device, fine-tuning losses, timing")
    s.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    s = step("fuse", _cmd_fuse, "PCA of DTL features, early fusion, z-score, final LASSO, Radscore")
    s.add_argument("--cohort", required=True, help=cohort_help)
    s.add_argument("--harmonised", required=True, help="harmonised features CSV written by `vfrepro liu2025_dlr combat`")
    s.add_argument("--selected", required=True, help="selected_radiomics.json written by `vfrepro liu2025_dlr select`")
    s.add_argument("--dtl", required=True, help="deep features CSV written by `vfrepro liu2025_dlr deep`")
    s.add_argument("--out", required=True, help="output fused table CSV (selected features, radscore; index: key)")
    s.add_argument("--model", required=True, help="output joblib of the fitted fusion model (PCA, scaler, LASSO)")
    s.add_argument("--summary", required=True, help="output JSON: selected features, PCA and LASSO summary")
    s.add_argument("--backbone", default="", help="backbone name, used in figure titles (radimagenet/imagenet)")
    s.add_argument("--lasso-path", required=True,
                   help="output CSV of the fusion LASSO path: lambda, log_lambda, class, feature, coef (standardised)")
    s.add_argument("--lasso-cv", required=True,
                   help="output CSV of the LASSO CV curve: lambda, deviance mean and SD, n selected, chosen")
    s.add_argument("--radscore-coef", required=True,
                   help="output CSV of the Radscore coefficients (selected features and intercepts, per class)")
    s.add_argument("--path-png", required=True, help="output PNG: coefficient paths and CV deviance vs log lambda")
    s.add_argument("--importance-png", required=True, help="output PNG: importance bar of the selected features")
    s.add_argument("--radscore-png", required=True, help="output PNG: Radscore coefficients per class")
    s = step("classify", _cmd_classify, "grid search of the classifier zoo on training folds")
    s.add_argument("--fused", required=True, help=fused_help)
    s.add_argument("--models", required=True, help="output joblib of the refitted models (and the best one's name)")
    s.add_argument("--cv", required=True, help="output CSV of the grid search's cross-validation results")
    s.add_argument("--predictions", required=True,
                   help="output CSV of the best model's predictions for every vertebra (vfrepro.evaluate.schema: prob_0..prob_2)")
    s.add_argument("--oof", required=True,
                   help="output CSV of the best model's out-of-fold predictions of training vertebrae (same columns)")
    s.add_argument("--threads", type=int, default=1, help="parallel jobs for the grid search (default: 1)")
    s = step("evaluate", _cmd_evaluate, "per-split OvR metrics with bootstrap CIs, DeLong, ROC figures")
    s.add_argument("--pred-radimagenet", required=True,
                   help="predictions CSV of the RadImageNet branch written by `vfrepro liu2025_dlr classify`")
    s.add_argument("--pred-imagenet", required=True,
                   help="predictions CSV of the ImageNet branch written by `vfrepro liu2025_dlr classify`")
    s.add_argument("--metrics", required=True, help="output CSV of metrics per backbone, split and class")
    s.add_argument("--delong", required=True,
                   help="output CSV of per-class tests RadImageNet vs ImageNet (DeLong and paired patient "
                        "bootstrap, Holm-adjusted)")
    s.add_argument("--macro-comparison", default=None,
                   help="output CSV (written when given; the pipeline always asks for it) per split: macro AUC RadImageNet vs ImageNet, difference with paired "
                        "patient-bootstrap CI and p")
    s.add_argument("--roc-radimagenet", required=True, help="output PNG of the RadImageNet branch's ROC curves")
    s.add_argument("--roc-imagenet", required=True, help="output PNG of the ImageNet branch's ROC curves")
    s = step("shap", _cmd_shap, "SHAP bar/beeswarm/decision figures of the winning model")
    s.add_argument("--backbone", required=True, help="backbone name, used in figure titles (radimagenet/imagenet)")
    s.add_argument("--models", required=True, help="models joblib written by `vfrepro liu2025_dlr classify`")
    s.add_argument("--fused", required=True, help=fused_help)
    s.add_argument("--table", required=True, help="output CSV of mean |SHAP| per feature and class (and overall), largest first")
    for o in ("bar", "beeswarm", "decision"):
        s.add_argument(f"--{o}", nargs=3, required=True, help="one PNG per class 0, 1, 2")
    s.add_argument("--bar-stacked", required=True, help="output PNG: global mean |SHAP| stacked over the 3 classes")
    s.add_argument("--prospective-decision", nargs=3, required=True,
                   help="output PNGs: decision plot of one prospective vertebra per class 0, 1, 2")
    s.add_argument("--prospective-table", required=True,
                   help="output CSV of the prospective vertebrae plotted: key, truth, base value, model output, p")
    s = step("nomogram", _cmd_nomogram, "combined clinical + Radscore model, nomogram and calibration")
    s.add_argument("--fused", required=True, help=fused_help + " (its radscore column is used)")
    s.add_argument("--cohort", required=True, help=cohort_help + " (clinical variables)")
    s.add_argument("--summary", required=True, help="output JSON: clinical tests, selected variables, model, performance")
    s.add_argument("--nomogram", required=True, help="output PNG of the nomogram")
    s.add_argument("--calibration", required=True, help="output PNG of the calibration curves")
    s.add_argument("--predictions", required=True, help="output CSV of the combined model's predictions (vfrepro.evaluate.schema: prob_0..prob_2)")
    s = step("table1", _cmd_table1, "Table 1: baseline characteristics by cohort with tests (CSV, Markdown)")
    s.add_argument("--cohort", required=True, help=cohort_help)
    s.add_argument("--csv", required=True, help="output Table 1 as CSV")
    s.add_argument("--md", required=True, help="output Table 1 as Markdown")
    s = step("table3", _cmd_table3, "Table 3 (CSV, Markdown, LaTeX), published beside reproduced")
    s.add_argument("--metrics", required=True, help="metrics CSV written by `vfrepro liu2025_dlr evaluate`")
    s.add_argument("--deep-meta", nargs="+", required=True,
                   help="meta JSONs written by `vfrepro liu2025_dlr deep` (one per backbone)")
    s.add_argument("--predictions", nargs="+", default=[], metavar="BACKBONE=CSV",
                   help="predictions CSVs written by `vfrepro liu2025_dlr classify` (per-class thresholds applied)")
    s.add_argument("--oof", nargs="+", default=[], metavar="BACKBONE=CSV",
                   help="out-of-fold training predictions written by `vfrepro liu2025_dlr classify` (the "
                        "per-class Youden thresholds are fitted on them)")
    s.add_argument("--fusion", nargs="+", default=[], metavar="BACKBONE=JSON",
                   help="fusion.json written by `vfrepro liu2025_dlr fuse` (feature counts, lambda, PCA size)")
    s.add_argument("--cohort-source", choices=("synthetic", "manifest"), required=True,
                   help="the config's cohort.source (the provenance says 'synthetic cohort' only for a generated one)")
    s.add_argument("--csv", required=True, help="output Table 3 as CSV")
    s.add_argument("--md", required=True, help="output Table 3 as Markdown")
    s.add_argument("--tex", required=True, help="output Table 3 as LaTeX")
    s.add_argument("--thresholds", default="", help="output CSV of per-class metrics by argmax and at the Youden "
                   "threshold fitted on out-of-fold training scores (per backbone, split, class)")
    s.add_argument("--chosen", default="", help="output CSV of the deviations from the paper (vfrepro.evaluate.chosen)")
