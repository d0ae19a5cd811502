"""liu2025_dlr tables from predictions alone (the ``vfrepro tables`` verb) and the reproduced
numbers in the verdict's long form. The computations are evaluation.py's (the pipeline's
``evaluate`` and ``table3`` stages); nothing is copied here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .cohort import BACKBONES, STUDY
from . import evaluation as E

# the tables the reproduction verdict reads (results/liu2025_dlr/...); the fusion summaries
# (feature counts, lambda) are read when present
REPRODUCTION_INPUTS = ("metrics.csv", *(f"{bb}/fusion.json" for bb in BACKBONES))

# Deviations from the paper and values it leaves out, across the branch (each checked against
# the code it names); the values in force for a run come from chosen_table's run rows.
CHOSEN: list[tuple[str, object, str]] = [
    ("radiomics selection LASSO", "multinomial (softmax) LASSO of the 3-class ASTLOF label "
     "(vfrepro.stats.cv_lasso), lambda by 10-fold patient-grouped, class-stratified CV deviance (select.lasso_rule)",
     "the paper's first LASSO (after ICC and Spearman) does not name its family; the fusion LASSO is the "
     "features module's row"),
    ("LASSO lambda path", "30 lambdas from lambda_max down to 1% of it, tolerance 1e-4 (vfrepro.select.core.LASSO_PATH)",
     "the paper gives none; glmnet's 100 lambdas to 1e-4 take minutes per multinomial CV and change the "
     "selection only far below lambda.min"),
    ("image z-score before radiomics", "off (PyRadiomics normalize: false)",
     "the paper z-scores images before extraction; CT numbers (HU) are calibrated across scanners, ComBat "
     "harmonises the features by site and the fused features are z-scored, so a per-image z-score would only "
     "remove the density information of first-order features"),
    ("GLCM MCC", "not extracted (nor the deprecated Homogeneity1/2, SumAverage, SumVariance)",
     "MCC (an eigen-decomposition per angle) takes over 3/4 of the extraction time; the paper extracts all "
     "PyRadiomics GLCM features"),
    ("radiomics bin width", "fixed bin width in HU (liu2025_dlr.radiomics.bin_width)", "the paper does not give it"),
    ("ICC", "on unharmonised reader 1 vs reader 2 features of the training vertebrae with a second mask "
     "(select.icc_form)", "the paper gives ICC >= 0.8 between two evaluations, not the ICC form or subset"),
    ("correlation pruning (|r| > 0.5)", "of a correlated pair, the feature with the larger LASSO |coefficient| stays",
     "the paper does not say which of a pair is excluded"),
    ("DTL input", "n axial slices evenly spaced through the vertebra's z-extent (ends excluded), cropped to its "
     "bounding box + 4 px, z-scored with its voxels, 64x64, 3 channels; a vertebra's features: the mean "
     "of its slices' pooled features", "the paper resamples to 64x64 but does not say which slices or plane"),
    ("ComBat", "fitted on training vertebrae (combat.covariates, combat.parametric); a site unseen in training "
     "(external centre) gets location/scale from its own vertebrae, label-free (combat.unseen_sites)",
     "the paper applies ComBat without saying on which rows it was fitted or how a new centre is harmonised"),
    ("Table 3 macro row", "accuracy: overall (top-1) accuracy; AUC: mean of the one-vs-rest AUCs",
     "the paper's 'three classifications' row is 'macro-average'; the mean of its per-class accuracies is not "
     "its printed accuracy, the overall accuracy is the reading"),
]
# the predictions files of one run, one per backbone (``vfrepro tables`` NAME=CSV)
PREDICTION_MODELS = tuple(BACKBONES)


def reproduced_long(results) -> pd.DataFrame:
    """Table 3's numbers from ``metrics.csv`` (accuracy and AUC with their bootstrap 95% CIs,
    per backbone, class or macro, and split) and each backbone's chosen classifier."""
    m = pd.read_csv(Path(results) / "metrics.csv", dtype={"class": str})
    long = E._reproduced(m)
    long["ci_method"] = "stratified bootstrap"
    long["n"] = np.nan
    note = dict(zip(m["backbone"] + "|" + m["split"], m["note"].fillna("")))
    long["reason"] = [("class absent from the split" if not np.isfinite(v) and note.get(f"{b}|{s}") else "")
                      for v, b, s in zip(long["value"].astype(float), long["backbone"], long["column"])]
    best = m.drop_duplicates("backbone")[["backbone", "model"]]
    best = pd.DataFrame({"row": best["backbone"], "column": "", "quantity": "best_model", "value": best["model"]})
    parts = [long.drop(columns=["backbone", "model"]), best]
    fusion = read_fusion(Path(results))
    if fusion:
        fc = E.feature_counts(fusion)
        fc["reason"] = [("a setting chosen by the fusion LASSO's CV (" + r + "), not an estimate"
                         if q == "lasso_lambda" else "") for q, r in zip(fc["quantity"], fc["rule"])]
        parts.append(fc[["row", "column", "quantity", "value", "reason"]])
    return pd.concat(parts, ignore_index=True)


def read_fusion(results: Path) -> dict[str, dict]:
    """Backbone -> the fuse stage's summary (``<backbone>/fusion.json``), for those present."""
    import json
    return {bb: json.loads((results / bb / "fusion.json").read_text()) for bb in BACKBONES
            if (results / bb / "fusion.json").is_file()}


def _modules():
    """The branch's modules that declare CHOSEN (the CLI layer excepted), in name order."""
    import importlib
    import pkgutil
    pkg = importlib.import_module(__package__)
    mods = [importlib.import_module(f"{__package__}.{m.name}") for m in pkgutil.iter_modules(pkg.__path__)
            if m.name != "cli"]
    return [m for m in mods if hasattr(m, "CHOSEN")]


def run_rows(radiomics_params: dict, deep_meta: list[dict], fusion: dict[str, dict], cfg: dict) -> list[tuple]:
    """The values in force in this run of the settings CHOSEN lists: (module, setting, value, reason)."""
    rows = []
    if radiomics_params:
        st = radiomics_params.get("setting", {})
        glcm = (radiomics_params.get("featureClass") or {}).get("glcm")
        rows.append(("radiomics", "image normalize (in force)", st.get("normalize", False),
                     "PyRadiomics setting of the params file in use"))
        rows.append(("radiomics", "GLCM MCC (in force)", "extracted" if not glcm or "MCC" in glcm else "not extracted",
                     "GLCM feature list of the params file in use (an empty list extracts all)"))
        rows.append(("radiomics", "bin width (in force)", st.get("binWidth"), "HU; the paper does not give it"))
    for m in sorted(deep_meta, key=lambda m: m["config"]["backbone"]):
        c = m["config"]
        rows.append(("deep", f"{c['backbone']} weights", m["init"],
                     "the paper uses pretrained RadImageNet / ImageNet weights" +
                     ("; this run has none (CPU demo): its DTL features come from a random network"
                      if str(m["init"]).startswith("random") else "")))
        rows.append(("deep", f"{c['backbone']} fine-tuning epochs", c["finetune_epochs"],
                     "the paper fine-tunes (cosine annealing) without giving epochs" +
                     ("; none in this run (CPU demo)" if not c["finetune_epochs"] else "")))
        rows.append(("deep", f"{c['backbone']} axial slices per vertebra", c["n_slices"], "the paper does not give it"))
    for bb, s in fusion.items():
        rows.append(("features", f"{bb} DTL PCA components", s.get("pca_components"),
                     f"explained variance {s.get('pca_explained_variance', float('nan')):.3f}; the paper does not give the size"))
        rows.append(("features", f"{bb} fusion LASSO lambda", f"{s['lasso']['lambda']:.4g} ({s['lasso'].get('rule', '')})",
                     "by CV on training; the paper reports its own lambda"))
    comb = cfg.get("combat", {})
    if comb:
        rows.append(("features", "ComBat unseen sites (in force)", comb.get("unseen_sites"),
                     "combat.unseen_sites; covariates " + ", ".join(map(str, comb.get("covariates", [])))))
    return rows


def chosen_table(radiomics_params: dict | None = None, deep_meta: list[dict] = (), fusion: dict | None = None,
                 cfg: dict | None = None) -> pd.DataFrame:
    """Every CHOSEN row of the branch's modules, then the run's values in force (:func:`run_rows`)."""
    from ...evaluate import chosen
    return chosen.table(_modules(), extra=run_rows(radiomics_params or {}, list(deep_meta), fusion or {}, cfg or {}))


def from_predictions(paths: dict, out: Path, cfg: dict, infos: dict | None = None) -> list[str]:
    """metrics.csv, delong.csv, macro_auc_comparison.csv (both backbones), roc_<backbone>.png and
    table3.{csv,md,tex} from the backbones' predictions files, as the evaluate and table3 stages write them (their functions; Table 3's
    provenance block names this command instead of the deep-feature weights). ``cfg``: ``seed``,
    ``evaluate.n_boot``. Gives the files written."""
    from ...evaluate.figures import roc_figure
    from ...evaluate.schema import read
    from ..cli_common import write_table
    from .cli import CLASS_NAMES
    out = Path(out)
    preds = {bb: read(paths[bb], CLASS_NAMES) for bb in paths}
    n_boot, seed = int(cfg.get("evaluate", {}).get("n_boot", 1000)), int(cfg.get("seed", 0))
    m = E.metrics(preds, n_boot, seed)
    write_table(m, out / "metrics.csv")
    write_table(E.delong(preds, n_boot, seed), out / "delong.csv")
    files = ["metrics.csv", "delong.csv"]
    if len(preds) > 1:  # the paired macro-AUC comparison needs both backbones
        write_table(E.macro_comparison(preds, n_boot, seed), out / "macro_auc_comparison.csv")
        files.append("macro_auc_comparison.csv")
    for bb, p in preds.items():
        roc_figure(E.roc_panels(p), out / f"roc_{bb}.png", E.roc_title(p, bb), band_boot=min(n_boot, 200), seed=seed)
        files.append(f"roc_{bb}.png")
    # as the table3 stage: metrics read back from the CSV (the same rounding)
    m = pd.read_csv(out / "metrics.csv")
    m["class"] = m["class"].astype(str)
    t, md, tex = E.table3(m, {"source": "vfrepro tables (predictions only)", "seed": seed})
    write_table(t, out / "table3.csv")
    (out / "table3.md").write_text(md)
    (out / "table3.tex").write_text(tex)
    return files + ["table3.csv", "table3.md", "table3.tex"]
