"""`vfrepro liu2025 STEP`: the liu2025_dlr branch's stages (one Snakemake rule each).

Options that come from config are passed as one JSON object (``--cfg``, the rule's
``liu2025_dlr`` config section), so rules stay short and a config change reruns the step.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from vfrepro.errors import InputError


def _cfg(a) -> dict:
    try:
        return json.loads(a.cfg) if a.cfg else {}
    except json.JSONDecodeError as exc:
        raise InputError(f"--cfg is not JSON ({exc})", field="--cfg") from None


def _read(path, **kw) -> pd.DataFrame:
    if not Path(path).is_file():
        raise InputError("file not found", path=str(path))
    return pd.read_csv(path, **kw)


def _cohort(path) -> pd.DataFrame:
    return _read(path, dtype={"case_id": str, "site": str, "key": str})


def _cmd_cohort(a):
    from . import liu2025_dlr as L
    c = _cfg(a)
    t = L.build_cohort(a.manifest, a.passed, a.preprocess_dir, c.get("label", "astlof_class"), c.get("vertebrae", "fractured"))
    for note in L.check_classes(t):
        print(f"warning: {note}", file=sys.stderr)
    t.to_csv(a.out, index=False)
    print(f"{L.STUDY} cohort: {len(t)} vertebrae of {t['case_id'].nunique()} cases; classes "
          f"{t.groupby('split')['label'].value_counts().to_dict()}")


def _cmd_merge(a):
    from . import liu2025_dlr as L
    cohort = _cohort(a.cohort)
    feats, errors = L.merge_radiomics(a.inputs, cohort)
    for r in errors.itertuples():
        print(f"warning: dropped {r.key} reader {r.reader}: {r.message}", file=sys.stderr)
    r1 = feats[feats["reader"] == 1].drop(columns="reader").set_index("key").sort_index()
    r2 = feats[feats["reader"] == 2].drop(columns="reader").set_index("key").sort_index()
    r1.to_csv(a.out_reader1)
    r2.to_csv(a.out_reader2)
    errors.to_csv(a.out_errors, index=False)
    print(f"radiomics: reader 1 {r1.shape}, reader 2 {r2.shape}, {len(errors)} failed vertebra extraction(s)")


def _cmd_combat(a):
    from . import liu2025_dlr as L
    c = _cfg(a)
    cohort = _cohort(a.cohort)
    r1 = _read(a.features, index_col="key")
    harm, info = L.harmonise(r1, cohort, c["combat"]["covariates"], c["combat"]["parametric"], a.model,
                             c["combat"].get("unseen_sites", "estimate"))
    harm.to_csv(a.out, float_format="%.10g")
    Path(a.info).write_text(json.dumps(info, indent=1))
    for site, n in info["unseen_sites_estimated_from_own_rows"].items():
        print(f"note: site {site} is not in training; its location/scale were estimated from its own "
              f"{n} vertebrae (label-free) on the training fit's scale")
    if info["unseen_sites_passed_through"]:
        print(f"note: sites not in training, left unharmonised: {info['unseen_sites_passed_through']}")
    print(f"ComBat fitted on {info['n_train']} training vertebrae of sites {info['fitted_sites']}")


def _cmd_select(a):
    from . import liu2025_dlr as L
    c = _cfg(a)
    L.select_radiomics(_read(a.harmonised, index_col="key"), _read(a.reader1, index_col="key"),
                       _read(a.reader2, index_col="key"), _cohort(a.cohort), c["select"], a.outdir, c["seed"])


def _cmd_deep(a):
    from vfrepro.deep.resnet_features import DeepConfig, run
    c = _cfg(a)
    d = c["deep"]
    cfg = DeepConfig(backbone=a.backbone, weights=c["weights"].get(a.backbone, ""), init=c["weights"]["init"],
                     n_slices=d["n_slices"], size=d["size"], finetune_epochs=d["finetune_epochs"],
                     finetune_backbone=d["finetune_backbone"], lr_head=d["lr_head"], lr_backbone=d["lr_backbone"],
                     batch_size=d["batch_size"], seed=c["seed"] + (0 if a.backbone == "radimagenet" else 1),
                     device=d["device"], amp=d["amp"])
    import torch
    torch.set_num_threads(max(1, a.threads))
    run(_cohort(a.cohort), cfg, a.out, a.meta, label_col="label")


def _cmd_fuse(a):
    from . import liu2025_dlr as L
    c = _cfg(a)
    sel = json.loads(Path(a.selected).read_text())["selected"]
    dtl = _read(a.dtl, dtype={"case_id": str})
    dtl.index = dtl["case_id"].astype(str) + ":" + dtl["mask_label"].astype(str)
    dtl = dtl.drop(columns=["case_id", "mask_label"])
    L.fuse(_read(a.harmonised, index_col="key"), sel, dtl, _cohort(a.cohort),
           {**c["select"], "pca_components": c["deep"]["pca_components"]}, c["seed"], a.out, a.model, a.summary)


def _cmd_classify(a):
    from . import liu2025_dlr as L
    c = _cfg(a)
    fused = _read(a.fused, index_col="key", dtype={"case_id": str})
    L.classify(fused, c["classify"]["grids"], c["classify"]["cv_folds"], c["seed"], a.threads,
               a.models, a.cv, a.predictions)


def _cmd_evaluate(a):
    from . import liu2025_dlr as L
    c = _cfg(a)
    preds = {"radimagenet": _read(a.pred_radimagenet, index_col="key", dtype={"case_id": str}),
             "imagenet": _read(a.pred_imagenet, index_col="key", dtype={"case_id": str})}
    m = L.evaluate(preds, c["evaluate"]["n_boot"], c["seed"], a.metrics, a.delong,
                   {"radimagenet": a.roc_radimagenet, "imagenet": a.roc_imagenet})
    mac = m[(m["metric"] == "macro_auc")][["backbone", "split", "value", "ci_low", "ci_high"]]
    print(mac.to_string(index=False))


def _cmd_shap(a):
    import numpy as np
    from vfrepro.classify import load_models
    from vfrepro.explain.shap_figures import figures, shap_values, top_features
    c = _cfg(a)
    models, meta = load_models(a.models)
    best, feats = meta["best"], meta["features"]
    fused = _read(a.fused, index_col="key", dtype={"case_id": str})
    tr = fused[fused["split"] == "train"]
    ex = fused[fused["split"] != "train"].sort_index()
    n = c["shap"]["max_cases"]
    if len(ex) > n:  # a fixed, seeded subset of the validation vertebrae
        ex = ex.sample(n=n, random_state=c["seed"]).sort_index()
    vals, expv, kind = shap_values(models[best], best, tr[feats], ex[feats], c["shap"]["background"],
                                   c["shap"]["nsamples"], c["seed"])
    proba = models[best].predict_proba(ex[feats].to_numpy())
    classes = list(models[best].classes_)
    outs = {"bar": a.bar, "beeswarm": a.beeswarm, "decision": a.decision}
    figures(vals, expv, ex[feats], ex["label"].to_numpy(), proba, classes, outs,
            f"{a.backbone} {best}")
    t = top_features(vals, feats, classes)
    t.insert(0, "explainer", kind)
    t.to_csv(a.table, index=False)
    print(f"SHAP ({kind}) of {best} on {len(ex)} validation vertebrae; top: {t['feature'].head(3).tolist()}")


def _cmd_nomogram(a):
    from . import liu2025_nomogram as N
    c = _cfg(a)
    n = c["nomogram"]
    fused = _read(a.fused, index_col="key", dtype={"case_id": str})
    out = N.run(fused, _cohort(a.cohort), n["clinical"], n["alpha"], n["model"], a.summary, a.nomogram,
                a.calibration, a.predictions)
    print(f"combined model: clinical {out['selected_clinical']} + Radscore; performance {out['performance']}")


def _cmd_table3(a):
    from . import liu2025_dlr as L
    c = _cfg(a)
    metrics = _read(a.metrics)
    metrics["class"] = metrics["class"].astype(str)
    prov = L.provenance(c, c["seed"], a.deep_meta)
    L.table3(metrics, prov, a.csv, a.md, a.tex)
    Path(a.provenance).write_text(json.dumps(prov, indent=1))
    print(Path(a.md).read_text())


def _guard(fn):
    def run(a):
        try:
            return fn(a) or 0
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return run


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("liu2025", help="liu2025_dlr branch stages (deep-learning radiomics, ASTLOF)",
                              description="Stages of the liu2025_dlr branch; each is one Snakemake rule.")
    sub = p.add_subparsers(dest="step", required=True, metavar="STEP")

    def step(name, fn, help_):
        s = sub.add_parser(name, help=help_, description=help_)
        s.add_argument("--cfg", default="", help="the liu2025_dlr config section as JSON")
        s.set_defaults(func=_guard(fn))
        return s

    cohort_help = "vertebra table (CSV) written by `vfrepro liu2025 cohort`"
    fused_help = "fused feature table (CSV, with Radscore) written by `vfrepro liu2025 fuse`"
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
    s.add_argument("--features", required=True, help="reader 1 features CSV written by `vfrepro liu2025 merge`")
    s.add_argument("--out", required=True, help="output CSV of harmonised features (index: key)")
    s.add_argument("--model", required=True, help="output JSON of the fitted ComBat model")
    s.add_argument("--info", required=True, help="output JSON: fitted sites, n_train, dropped and unseen sites")
    s = step("select", _cmd_select, "ICC -> Spearman -> LASSO -> correlation pruning of radiomics")
    s.add_argument("--cohort", required=True, help=cohort_help)
    s.add_argument("--harmonised", required=True, help="harmonised features CSV written by `vfrepro liu2025 combat`")
    s.add_argument("--reader1", required=True, help="reader 1 features CSV written by `vfrepro liu2025 merge` (ICC)")
    s.add_argument("--reader2", required=True, help="reader 2 features CSV written by `vfrepro liu2025 merge` (ICC)")
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
    s.add_argument("--harmonised", required=True, help="harmonised features CSV written by `vfrepro liu2025 combat`")
    s.add_argument("--selected", required=True, help="selected_radiomics.json written by `vfrepro liu2025 select`")
    s.add_argument("--dtl", required=True, help="deep features CSV written by `vfrepro liu2025 deep`")
    s.add_argument("--out", required=True, help="output fused table CSV (selected features, radscore; index: key)")
    s.add_argument("--model", required=True, help="output joblib of the fitted fusion model (PCA, scaler, LASSO)")
    s.add_argument("--summary", required=True, help="output JSON: selected features, PCA and LASSO summary")
    s = step("classify", _cmd_classify, "grid search of the classifier zoo on training folds")
    s.add_argument("--fused", required=True, help=fused_help)
    s.add_argument("--models", required=True, help="output joblib of the refitted models (and the best one's name)")
    s.add_argument("--cv", required=True, help="output CSV of the grid search's cross-validation results")
    s.add_argument("--predictions", required=True,
                   help="output CSV of the best model's class probabilities p0..p2 for every vertebra")
    s.add_argument("--threads", type=int, default=1, help="parallel jobs for the grid search (default: 1)")
    s = step("evaluate", _cmd_evaluate, "per-split OvR metrics with bootstrap CIs, DeLong, ROC figures")
    s.add_argument("--pred-radimagenet", required=True,
                   help="predictions CSV of the RadImageNet branch written by `vfrepro liu2025 classify`")
    s.add_argument("--pred-imagenet", required=True,
                   help="predictions CSV of the ImageNet branch written by `vfrepro liu2025 classify`")
    s.add_argument("--metrics", required=True, help="output CSV of metrics per backbone, split and class")
    s.add_argument("--delong", required=True, help="output CSV of DeLong tests RadImageNet vs ImageNet")
    s.add_argument("--roc-radimagenet", required=True, help="output PNG of the RadImageNet branch's ROC curves")
    s.add_argument("--roc-imagenet", required=True, help="output PNG of the ImageNet branch's ROC curves")
    s = step("shap", _cmd_shap, "SHAP bar/beeswarm/decision figures of the winning model")
    s.add_argument("--backbone", required=True, help="backbone name, used in figure titles (radimagenet/imagenet)")
    s.add_argument("--models", required=True, help="models joblib written by `vfrepro liu2025 classify`")
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
    s.add_argument("--predictions", required=True, help="output CSV of the combined model's probabilities p0..p2")
    s = step("table3", _cmd_table3, "Table 3 (CSV, Markdown, LaTeX) with provenance")
    s.add_argument("--metrics", required=True, help="metrics CSV written by `vfrepro liu2025 evaluate`")
    s.add_argument("--deep-meta", nargs="+", required=True,
                   help="meta JSONs written by `vfrepro liu2025 deep` (one per backbone)")
    s.add_argument("--csv", required=True, help="output Table 3 as CSV")
    s.add_argument("--md", required=True, help="output Table 3 as Markdown")
    s.add_argument("--tex", required=True, help="output Table 3 as LaTeX")
    s.add_argument("--provenance", required=True, help="output JSON: config hash, seed, weights, software versions")
    return p
