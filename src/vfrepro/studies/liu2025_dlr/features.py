"""liu2025_dlr features: radiomics merge, ComBat across sites, ICC -> Spearman -> LASSO ->
correlation selection, and the fusion of deep transfer features with the selected radiomics.
Every fitted object is fitted on ``split == "train"`` rows only; functions return what they
computed (the CLI layer writes it)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .cohort import key


def merge_radiomics(files: list[str], cohort: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-case CSVs -> one table per reader (ok rows, cohort vertebrae only) + error table."""
    parts = [pd.read_csv(f, dtype={"case_id": str, "message": str}) for f in files]
    allr = pd.concat(parts, ignore_index=True)
    allr["key"] = key(allr)
    allr = allr[allr["key"].isin(cohort["key"])]
    errors = allr.loc[allr["status"] != "ok", ["key", "case_id", "mask_label", "reader", "message"]]
    ok = allr[allr["status"] == "ok"]
    feats = [c for c in ok.columns if c.startswith("original_")]
    return ok[["key", "reader", *feats]], errors


def _numeric_covariates(cohort: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    cov = cohort[names].copy()
    if "pain" in cov:
        cov["pain"] = cov["pain"].map({"none": 0, "positional": 1, "persistent": 2})
    return cov


def harmonise(features: pd.DataFrame, cohort: pd.DataFrame, covariates: list[str], parametric: bool,
              unseen_sites: str = "estimate"):
    """ComBat (vfrepro.harmonize) fitted on training vertebrae and applied to every vertebra.

    A site never seen in training (an external centre) is, by ``unseen_sites``, either
    harmonised with its location/scale estimated from its own vertebrae, label-free, on the
    scale fixed by the training fit ("estimate"; the training estimates stay as fitted), or
    left unadjusted ("passthrough"). A site with a single vertebra can only pass through.
    Gives (harmonised features, info, the fitted ComBat model).
    """
    from vfrepro.harmonize.combat import ComBat

    c = cohort.set_index("key").loc[features.index]
    train = (c["split"] == "train").to_numpy()
    feats = list(features.columns)
    Xtr = features.loc[train, feats]
    const = [f for f in feats if not np.isfinite(Xtr[f]).all() or Xtr[f].std() == 0]
    use = [f for f in feats if f not in const]
    cov = _numeric_covariates(c, covariates) if covariates else None
    model = ComBat(parametric=parametric, categorical=[v for v in covariates if v == "sex"])
    model.fit(Xtr[use], c.loc[train, "site"], None if cov is None else cov.loc[train])
    counts = c.loc[~c["site"].isin(model.batches_), "site"].value_counts()
    can_estimate = unseen_sites == "estimate" and not model.identity_
    estimated = sorted(s for s, n in counts.items() if can_estimate and n >= 2)
    passed = sorted(s for s in counts.index if s not in estimated)
    rows = (c["site"].isin(model.batches_) | c["site"].isin(estimated)).to_numpy()
    out = features[use].copy()
    if rows.any():
        out.loc[rows, use] = model.transform(features.loc[rows, use], c.loc[rows, "site"],
                                             None if cov is None else cov.loc[rows],
                                             new_batches="estimate").to_numpy()
    info = {"fitted_sites": model.batches_, "n_train": int(train.sum()), "covariates": covariates,
            "dropped_constant_in_training": const, "unseen_sites": unseen_sites,
            "unseen_sites_estimated_from_own_rows": {s: int(counts[s]) for s in estimated},
            "unseen_sites_passed_through": passed}
    return out, info, model


# ----------------------------------------------------------------------------- selection
def select_radiomics(harm: pd.DataFrame, r1: pd.DataFrame, r2: pd.DataFrame, cohort: pd.DataFrame,
                     cfg: dict, seed: int) -> tuple[list[str], dict]:
    """ICC -> Spearman -> LASSO -> |r| pruning on training rows. Gives (kept features, {file
    name: table or JSON-able dict} of each step's kept/dropped features)."""
    from vfrepro.select import corr_prune, icc_filter, lasso_select, spearman_greedy

    c = cohort.set_index("key")
    train_keys = [k for k in harm.index if c.at[k, "split"] == "train"]
    feats = list(harm.columns)
    # ICC on the raw (unharmonised) features of the reader-2 subset: both readers share the
    # scanner, and only training patients have a second reader.
    r2 = r2[r2.index.isin(train_keys)]
    kept_icc, icc_table = icc_filter(r1.loc[r2.index, feats], r2[feats], cfg["icc_threshold"], cfg["icc_form"])
    X = harm.loc[train_keys, kept_icc]
    kept_sp, removed = spearman_greedy(X, cfg["spearman_threshold"])
    y = c.loc[train_keys, "label"].to_numpy()
    groups = c.loc[train_keys, "case_id"].to_numpy()
    Xs = (X[kept_sp] - X[kept_sp].mean()) / X[kept_sp].std(ddof=0)
    sel, summary, imp = lasso_select(Xs, y, groups, cfg["lasso_folds"], seed, cfg["lasso_rule"], cfg["min_features"])
    kept, dropped = corr_prune(X, list(imp.index), cfg["corr_threshold"])
    counts = {"extracted": len(r1.columns), "after_combat": len(feats), "icc": len(kept_icc),
              "spearman": len(kept_sp), "lasso": len(sel), "corr": len(kept)}
    steps = {
        "step1_icc.csv": icc_table.rename_axis("feature").reset_index(),
        "step2_spearman_kept.csv": pd.DataFrame({"feature": kept_sp}),
        "step2_spearman_removed.csv": pd.DataFrame(removed, columns=["feature", "n_partners", "max_rho_with", "max_rho"]),
        "step3_lasso_kept.csv": imp.rename("importance").rename_axis("feature").reset_index(),
        "step3_lasso.json": summary,
        "step4_corr_kept.csv": pd.DataFrame({"feature": kept}),
        "step4_corr_dropped.csv": pd.DataFrame(dropped, columns=["feature", "correlated_with", "r"]),
        "selected_radiomics.json": {"selected": kept, "counts": counts},
    }
    return kept, steps


def fuse(harm: pd.DataFrame, selected: list[str], dtl: pd.DataFrame, cohort: pd.DataFrame, cfg: dict,
         seed: int):
    """PCA of DTL (training) + selected radiomics -> z-score -> final LASSO -> Radscore.
    Gives (fused table indexed by key, the fitted FusionModel, summary dict)."""
    from vfrepro.select import FusionModel

    c = cohort.set_index("key")
    keys = [k for k in harm.index if k in dtl.index]
    train = [k for k in keys if c.at[k, "split"] == "train"]
    fm = FusionModel(cfg["pca_components"], seed).fit(
        harm.loc[train, selected], dtl.loc[train], c.loc[train, "label"].to_numpy(),
        c.loc[train, "case_id"].to_numpy(), cfg["lasso_folds"], cfg["min_features"])
    Z = fm.transform(harm.loc[keys, selected], dtl.loc[keys])
    rs = fm.radscore(Z)
    table = pd.concat([c.loc[keys, ["case_id", "split", "site", "label"]], Z, rs], axis=1)
    table.index.name = "key"
    n_rad = sum(1 for f in fm.selected_ if not f.startswith("dtl_pc"))
    summary = {"selected": fm.selected_, "n_radiomics": n_rad, "n_dtl": len(fm.selected_) - n_rad,
               "pca_components": int(fm.pca_.n_components_),
               "pca_explained_variance": float(fm.pca_.explained_variance_ratio_.sum()),
               "lasso": {k: v for k, v in fm.lasso_.items() if k not in ("coef",)}}
    return table, fm, summary


