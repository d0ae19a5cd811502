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
    from .features import harmonise
    c = _cfg(a)
    harm, info, model = harmonise(read_csv(a.features, index_col="key"), _cohort(a.cohort),
                                  need(c, "combat.covariates"), need(c, "combat.parametric"),
                                  need(c, "combat.unseen_sites", "estimate"))
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
    from .features import fuse
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
    print(f"fusion: {summary['n_radiomics']} radiomics + {summary['n_dtl']} DTL features, "
          f"lambda {summary['lasso']['lambda']:.4g}")


def _cmd_classify(a):
    from ...classify import save_models
    from .classifier import classify
    c = _cfg(a)
    best, table, models, meta, pred = classify(_fused(a.fused), need(c, "classify.grids"), need(c, "classify.cv_folds"),
                                               need(c, "seed"), a.threads)
    write_table(table, a.cv)
    save_models(models, a.models, meta)
    write_table(pred, a.predictions)
    print(f"best classifier by CV macro AUC: {best}")


def _cmd_evaluate(a):
    from ...evaluate.figures import roc_figure
    from ...evaluate.schema import read
    from . import evaluation as E
    c = _cfg(a)
    n_boot, seed = need(c, "evaluate.n_boot"), need(c, "seed")
    preds = {"radimagenet": read(a.pred_radimagenet, CLASS_NAMES), "imagenet": read(a.pred_imagenet, CLASS_NAMES)}
    m = E.metrics(preds, n_boot, seed)
    write_table(m, a.metrics)
    write_table(E.delong(preds), a.delong)
    for bb, path in (("radimagenet", a.roc_radimagenet), ("imagenet", a.roc_imagenet)):
        roc_figure(E.roc_panels(preds[bb]), path, E.roc_title(preds[bb], bb), band_boot=min(n_boot, 200), seed=seed)
    mac = m[(m["metric"] == "macro_auc")][["backbone", "split", "value", "ci_low", "ci_high"]]
    print(mac.to_string(index=False))


def _cmd_shap(a):
    from ...classify import load_models
    from ...explain.shap_figures import figures, shap_values, top_features
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
    t = top_features(vals, feats, classes)
    t.insert(0, "explainer", kind)
    t.to_csv(a.table, index=False)
    print(f"SHAP ({kind}) of {best} on {len(ex)} validation vertebrae; top: {t['feature'].head(3).tolist()}")


def _cmd_nomogram(a):
    from . import nomogram as N
    c = _cfg(a)
    summary, pred, fit = N.run(_fused(a.fused), _cohort(a.cohort), need(c, "nomogram.clinical"),
                               need(c, "nomogram.alpha"), need(c, "nomogram.model"))
    write_table(pred, a.predictions)
    N.draw(fit, a.nomogram, a.calibration)
    write_json(summary, a.summary)
    print(f"combined model: clinical {summary['selected_clinical']} + Radscore; performance {summary['performance']}")


def _cmd_table3(a):
    from . import evaluation as E
    c = _cfg(a)
    metrics = read_csv(a.metrics)
    metrics["class"] = metrics["class"].astype(str)
    t, md, tex = E.table3(metrics, E.provenance(need(c, "seed"), a.deep_meta))
    write_table(t, a.csv)
    Path(a.md).write_text(md)
    Path(a.tex).write_text(tex)
    print(md)


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
    s = step("classify", _cmd_classify, "grid search of the classifier zoo on training folds")
    s.add_argument("--fused", required=True, help=fused_help)
    s.add_argument("--models", required=True, help="output joblib of the refitted models (and the best one's name)")
    s.add_argument("--cv", required=True, help="output CSV of the grid search's cross-validation results")
    s.add_argument("--predictions", required=True,
                   help="output CSV of the best model's predictions for every vertebra (vfrepro.evaluate.schema: prob_0..prob_2)")
    s.add_argument("--threads", type=int, default=1, help="parallel jobs for the grid search (default: 1)")
    s = step("evaluate", _cmd_evaluate, "per-split OvR metrics with bootstrap CIs, DeLong, ROC figures")
    s.add_argument("--pred-radimagenet", required=True,
                   help="predictions CSV of the RadImageNet branch written by `vfrepro liu2025_dlr classify`")
    s.add_argument("--pred-imagenet", required=True,
                   help="predictions CSV of the ImageNet branch written by `vfrepro liu2025_dlr classify`")
    s.add_argument("--metrics", required=True, help="output CSV of metrics per backbone, split and class")
    s.add_argument("--delong", required=True, help="output CSV of DeLong tests RadImageNet vs ImageNet")
    s.add_argument("--roc-radimagenet", required=True, help="output PNG of the RadImageNet branch's ROC curves")
    s.add_argument("--roc-imagenet", required=True, help="output PNG of the ImageNet branch's ROC curves")
    s = step("shap", _cmd_shap, "SHAP bar/beeswarm/decision figures of the winning model")
    s.add_argument("--backbone", required=True, help="backbone name, used in figure titles (radimagenet/imagenet)")
    s.add_argument("--models", required=True, help="models joblib written by `vfrepro liu2025_dlr classify`")
    s.add_argument("--fused", required=True, help=fused_help)
    s.add_argument("--table", required=True, help="output CSV of mean |SHAP| per feature and class (and overall), largest first")
    for o in ("bar", "beeswarm", "decision"):
        s.add_argument(f"--{o}", nargs=3, required=True, help="one PNG per class 0, 1, 2")
    s = step("nomogram", _cmd_nomogram, "combined clinical + Radscore model, nomogram and calibration")
    s.add_argument("--fused", required=True, help=fused_help + " (its radscore column is used)")
    s.add_argument("--cohort", required=True, help=cohort_help + " (clinical variables)")
    s.add_argument("--summary", required=True, help="output JSON: clinical tests, selected variables, model, performance")
    s.add_argument("--nomogram", required=True, help="output PNG of the nomogram")
    s.add_argument("--calibration", required=True, help="output PNG of the calibration curves")
    s.add_argument("--predictions", required=True, help="output CSV of the combined model's predictions (vfrepro.evaluate.schema: prob_0..prob_2)")
    s = step("table3", _cmd_table3, "Table 3 (CSV, Markdown, LaTeX), published beside reproduced")
    s.add_argument("--metrics", required=True, help="metrics CSV written by `vfrepro liu2025_dlr evaluate`")
    s.add_argument("--deep-meta", nargs="+", required=True,
                   help="meta JSONs written by `vfrepro liu2025_dlr deep` (one per backbone)")
    s.add_argument("--csv", required=True, help="output Table 3 as CSV")
    s.add_argument("--md", required=True, help="output Table 3 as Markdown")
    s.add_argument("--tex", required=True, help="output Table 3 as LaTeX")
