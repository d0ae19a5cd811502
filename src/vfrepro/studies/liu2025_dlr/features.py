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


CHOSEN: list[tuple[str, object, str]] = [
    ("deep.pca_components", "0.95 (explained-variance fraction of the z-scored training DTL features)",
     "the paper applies PCA to the 2048-d DTL features without the size; a fixed 16 would make ImageNet's "
     "published 37 retained DTL features impossible. A fraction keeps the components that explain it "
     "(smallest k with cumulative ratio >= fraction), capped by min(n_train - 1, 2048); an integer asks "
     "that many under the same cap. Fitted on training rows only; the count kept is in fusion.json"),
    ("fusion.lasso", "multinomial LASSO, lambda.min by 10-fold patient-grouped CV (deviance)",
     "the paper says 'LASSO-Cox' for a 3-class outcome without survival times; the multinomial "
     "(ungrouped) LASSO of vfrepro.stats.lasso is the reading taken. Path, CV curve and coefficients are "
     "saved beside fusion.json (lasso_path.csv, lasso_cv.csv, radscore_coefficients.csv)"),
    ("fusion.radscore", "sum_k k * p_k under the final LASSO (expected ASTLOF class)",
     "the paper builds a DTL_Radscore 'from the fused features and their coefficients' for 3 classes "
     "without the formula; the expected class is one score per vertebra"),
    ("fusion.importance", "max over classes of |standardised LASSO coefficient| at the chosen lambda",
     "the appendix histogram of 'feature importance scores' does not say how the 3 classes combine"),
]


def pca_size(dtl_train: pd.DataFrame, requested: float) -> tuple[int, dict]:
    """Components of the DTL PCA from the training rows: ``requested`` >= 1 is a count, < 1 an
    explained-variance fraction (smallest k reaching it); either capped by min(n_train - 1,
    n_features). Gives (k, info with the cap and a warning when the cap cut the request)."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    n, p = dtl_train.shape
    cap = int(min(n - 1, p))
    if cap < 1:
        raise ValueError(f"PCA of DTL features needs >= 2 training vertebrae, got {n}")
    Z = StandardScaler().fit_transform(dtl_train.to_numpy())
    ratio = PCA(n_components=cap, svd_solver="full").fit(Z).explained_variance_ratio_
    cum = np.cumsum(ratio)
    info = {"requested": requested, "cap": cap, "cap_rule": "min(n_train - 1, n_dtl_features)",
            "n_train": int(n), "n_dtl_features": int(p)}
    if float(requested) >= 1:
        want = int(requested)
        k = min(want, cap)
        info["rule"] = f"{want} components"
    else:
        reach = np.flatnonzero(cum >= float(requested) - 1e-12)
        want = int(reach[0]) + 1 if len(reach) else None  # None: the cap stops short of the fraction
        k = cap if want is None else want
        info["rule"] = f"smallest k with cumulative explained variance >= {requested}"
    info["kept"] = int(k)
    info["explained_variance"] = float(cum[k - 1])
    info["warnings"] = []
    if want is None or want > cap:
        info["warnings"].append(
            f"small cohort: PCA kept {k} components (cap min(n_train - 1, {p}) = {cap} with {n} training "
            f"vertebrae) where {info['rule']} asked for {want if want else 'more'}; explained variance "
            f"{cum[k - 1]:.3f}")
    return int(k), info


def fuse(harm: pd.DataFrame, selected: list[str], dtl: pd.DataFrame, cohort: pd.DataFrame, cfg: dict,
         seed: int):
    """PCA of DTL (training) + selected radiomics -> z-score -> final LASSO -> Radscore.
    Gives (fused table indexed by key, the fitted FusionModel, summary dict)."""
    from vfrepro.select import FusionModel

    c = cohort.set_index("key")
    keys = [k for k in harm.index if k in dtl.index]
    train = [k for k in keys if c.at[k, "split"] == "train"]
    k, pca_info = pca_size(dtl.loc[train], cfg["pca_components"])
    fm = FusionModel(k, seed).fit(
        harm.loc[train, selected], dtl.loc[train], c.loc[train, "label"].to_numpy(),
        c.loc[train, "case_id"].to_numpy(), cfg["lasso_folds"], cfg["min_features"])
    Z = fm.transform(harm.loc[keys, selected], dtl.loc[keys])
    rs = fm.radscore(Z)
    table = pd.concat([c.loc[keys, ["case_id", "split", "site", "label"]], Z, rs], axis=1)
    table.index.name = "key"
    n_rad = sum(1 for f in fm.selected_ if not f.startswith("dtl_pc"))
    pca_info["explained_variance"] = float(fm.pca_.explained_variance_ratio_.sum())
    summary = {"selected": fm.selected_, "n_radiomics": n_rad, "n_dtl": len(fm.selected_) - n_rad,
               "n_radiomics_candidates": len(selected), "pca_components": int(fm.pca_.n_components_),
               "pca_explained_variance": pca_info["explained_variance"], "pca": pca_info,
               "warnings": list(pca_info["warnings"]),
               "lasso": {k: v for k, v in fm.lasso_.items() if k not in ("coef",)},
               "chosen": [list(r) for r in CHOSEN]}
    return table, fm, summary


def lasso_tables(fm) -> dict[str, pd.DataFrame]:
    """The fusion LASSO's path (coefficient per lambda, class and feature, standardised scale),
    CV curve (deviance mean and SD per lambda, the chosen one marked) and the Radscore
    coefficients (selected features per class, on the scale of the z-scored fused features)."""
    cv = fm.lasso_cv_
    lam = float(fm.lasso_["lambda"])
    classes = ["coef"] if cv.coef_path.shape[1] == 1 else [str(k) for k in cv.classes]
    L, C, P = cv.coef_path.shape
    path = pd.DataFrame({"lambda": np.repeat(cv.lambdas, C * P), "class": np.tile(np.repeat(classes, P), L),
                         "feature": np.tile(list(map(str, cv.features)), L * C),
                         "coef": cv.coef_path.reshape(-1)})
    path.insert(1, "log_lambda", np.log(path["lambda"]))
    chosen_i = int(np.argmin(np.abs(cv.lambdas - lam)))
    curve = pd.DataFrame({"lambda": cv.lambdas, "log_lambda": np.log(cv.lambdas), "cv_deviance": cv.cvm,
                          "cv_deviance_sd": cv.cvsd,
                          "n_selected": [int((b != 0).any(axis=0).sum()) for b in cv.coef_path]})
    curve["chosen"] = np.arange(L) == chosen_i
    curve["lambda_min"] = np.isclose(cv.lambdas, cv.lambda_min)
    curve["lambda_1se"] = np.isclose(cv.lambdas, cv.lambda_1se)
    coef = fm.coef_.copy()
    coef.columns = [str(k) for k in coef.columns]
    rad = coef.rename_axis("feature").reset_index().melt(id_vars="feature", var_name="class", value_name="coef")
    icpt = pd.DataFrame({"feature": "(Intercept)", "class": [str(k) for k in coef.columns], "coef": fm.intercept_})
    rad = pd.concat([icpt, rad], ignore_index=True)
    rad["importance"] = rad["feature"].map(fm.importance_.to_dict())
    return {"path": path, "cv": curve, "radscore": rad}


def lasso_figures(fm, tables: dict, title: str, path_png: str, importance_png: str, radscore_png: str) -> None:
    """The appendix figures: coefficient paths per class vs log lambda and the CV deviance curve
    (chosen lambda marked); the selected features' importance bar; the Radscore coefficients."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path, curve, rad = tables["path"], tables["cv"], tables["radscore"]
    lam = float(fm.lasso_["lambda"])
    classes = list(dict.fromkeys(path["class"]))
    fig, axes = plt.subplots(1, len(classes) + 1, figsize=(4.2 * (len(classes) + 1), 3.8))
    for ax, k in zip(axes, classes):
        sub = path[path["class"] == k].pivot(index="log_lambda", columns="feature", values="coef")
        for f in sub.columns:
            ax.plot(sub.index, sub[f], lw=0.8)
        ax.axvline(np.log(lam), color="k", ls="--", lw=0.8)
        ax.set_xlabel("log(lambda)")
        ax.set_ylabel("coefficient (standardised)")
        ax.set_title(f"class {k}", fontsize=9)
    ax = axes[-1]
    ax.errorbar(curve["log_lambda"], curve["cv_deviance"], yerr=curve["cv_deviance_sd"], fmt="o", ms=3,
                color="tab:red", ecolor="0.6", lw=0.8)
    ax.axvline(np.log(lam), color="k", ls="--", lw=0.8, label=f"chosen lambda = {lam:.4g}")
    ax.axvline(np.log(curve.loc[curve["lambda_1se"], "lambda"].iloc[0]), color="0.5", ls=":", lw=0.8,
               label="lambda.1se")
    ax.set_xlabel("log(lambda)")
    ax.set_ylabel("CV multinomial deviance")
    ax.legend(fontsize=7)
    fig.suptitle(f"{title}: fusion LASSO path", fontsize=10)
    fig.tight_layout()
    fig.savefig(path_png, dpi=100)
    plt.close(fig)

    imp = fm.importance_.sort_values()
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(imp) + 1.5))
    ax.barh(imp.index, imp.to_numpy(), color=["tab:blue" if f.startswith("dtl_pc") else "tab:orange"
                                               for f in imp.index])
    ax.set_xlabel("importance: max over classes |standardised coefficient|")
    ax.set_title(f"{title}: selected fused features (orange radiomics, blue DTL)", fontsize=9)
    ax.tick_params(axis="y", labelsize=6)
    fig.tight_layout()
    fig.savefig(importance_png, dpi=100)
    plt.close(fig)

    r = rad[rad["feature"] != "(Intercept)"].pivot(index="feature", columns="class", values="coef")
    r = r.loc[fm.importance_.sort_values().index]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(r) + 1.5))
    h = 0.8 / max(r.shape[1], 1)
    for j, k in enumerate(r.columns):
        ax.barh(np.arange(len(r)) + (j - (r.shape[1] - 1) / 2) * h, r[k].to_numpy(), height=h, label=f"class {k}")
    ax.set_yticks(np.arange(len(r)), r.index, fontsize=6)
    ax.axvline(0, color="k", lw=0.6)
    ax.set_xlabel("coefficient (per z-scored fused feature)")
    ax.set_title(f"{title}: Radscore coefficients (Radscore = sum_k k p_k)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(radscore_png, dpi=100)
    plt.close(fig)
