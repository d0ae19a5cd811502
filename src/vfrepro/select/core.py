"""Feature selection of liu2025_dlr, every step fitted on training rows only.

ICC filter (reader 1 vs reader 2, :func:`vfrepro.stats.icc_per_feature`) -> Spearman
|rho| > t greedy removal -> LASSO with k-fold CV (:func:`vfrepro.stats.cv_lasso`, folds
stratified by class and grouped by patient) -> drop pairs with |Pearson r| > t (keeping the
feature with the larger LASSO coefficient). Then DTL features by PCA, early fusion, z-score,
final LASSO and a Radscore.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from vfrepro.folds import patient_folds
from vfrepro.stats import cv_lasso, icc_per_feature

# LASSO path: 30 lambdas from lambda_max down to 1% of it, SAGA tolerance 1e-4 (glmnet's
# default 100 lambdas to 1e-4 at tol 1e-8 takes minutes per multinomial CV here and changes
# which features are kept only at lambdas far below lambda.min).
LASSO_PATH = {"n_lambda": 30, "ratio": 0.01, "tol": 1e-4}


def icc_filter(reader1: pd.DataFrame, reader2: pd.DataFrame, threshold: float = 0.8,
               form: str = "ICC2") -> tuple[list[str], pd.DataFrame]:
    """Features whose inter-reader ICC >= threshold. Both tables: index = vertebra key, same
    feature columns. Gives (kept, per-feature ICC table with a ``kept`` column)."""
    common = reader1.index.intersection(reader2.index)
    if len(common) < 3:
        raise ValueError(f"ICC needs >= 3 vertebrae with both readers, got {len(common)}")
    feats = [c for c in reader1.columns if c in reader2.columns]
    a, b = reader1.loc[common, feats], reader2.loc[common, feats]
    long = pd.concat([a.assign(_t=common, _r="reader1"), b.assign(_t=common, _r="reader2")], ignore_index=True)
    # A feature that is constant over both readers has no ICC (0/0): it is dropped.
    var = long[feats].var()
    usable = [f for f in feats if var[f] > 0 and np.isfinite(long[f]).all()]
    table = icc_per_feature(long, "_t", "_r", usable, form=form) if usable else pd.DataFrame(columns=["icc"])
    table = table.reindex(feats)
    table["kept"] = table["icc"].fillna(-np.inf) >= threshold
    return [f for f in feats if table.at[f, "kept"]], table


def spearman_greedy(X: pd.DataFrame, threshold: float = 0.9) -> tuple[list[str], list[dict]]:
    """Remove features until no pair has |Spearman rho| > threshold.

    Greedy: at each step drop the feature with the most partners above the threshold (ties:
    larger mean |rho| to all others, then later column order). Gives (kept, removal log)."""
    X = X.loc[:, X.std() > 0]
    rho = X.rank().corr(method="pearson").abs().to_numpy()
    np.fill_diagonal(rho, 0.0)
    rho = np.nan_to_num(rho)
    names = list(X.columns)
    alive = np.ones(len(names), bool)
    removed = []
    while True:
        sub = rho[np.ix_(alive, alive)]
        high = (sub > threshold).sum(axis=1)
        if high.max(initial=0) == 0:
            break
        idx = np.where(alive)[0]
        meanr = sub.mean(axis=1)
        order = np.lexsort((-np.arange(len(idx)), meanr, high))  # last = most redundant
        j = idx[order[-1]]
        partner = idx[int(np.argmax(sub[order[-1]]))]
        removed.append({"feature": names[j], "n_partners": int(high[order[-1]]),
                        "max_rho_with": names[partner], "max_rho": float(rho[j, partner])})
        alive[j] = False
    return [n for n, a in zip(names, alive) if a], removed


class FoldsReduced(UserWarning):
    """Fewer CV folds than configured (a small cohort): said in the log and in the outputs."""


def cv_folds(y, groups, k: int, seed: int, notes: list | None = None, what: str = "CV") -> np.ndarray:
    """Fold ids 0..k'-1, stratified by class and grouped by patient; k' = min(k, smallest class's
    number of patients) so every fold's training part holds every class. A reduction (k' < k)
    is never silent: a FoldsReduced warning (the run's log) and, with ``notes``, a line
    appended there for the stage's outputs."""
    y = np.asarray(y)
    groups = np.asarray(groups)
    per_class = pd.Series(groups).groupby(y).nunique()
    kk = int(min(k, per_class.min()))
    if kk < 2:
        raise ValueError(f"class {per_class.idxmin().item() if hasattr(per_class.idxmin(), 'item') else per_class.idxmin()} has {per_class.min()} training patient(s); "
                         "cross-validation needs >= 2 per class (enlarge the cohort)")
    if kk < k:
        smallest = per_class.idxmin()
        msg = (f"{what}: {k}-fold CV reduced to {kk} folds: class {str(smallest)!r} has only "
               f"{int(per_class.min())} training patient(s), and every fold's training part must hold "
               f"every class")
        warnings.warn(msg, FoldsReduced, stacklevel=2)
        if notes is not None:
            notes.append(msg)
    return patient_folds(groups, kk, seed, y=y)


def lasso_select(X: pd.DataFrame, y, groups, nfolds: int = 10, seed: int = 0, rule: str = "min",
                 min_features: int = 1, keep: dict | None = None) -> tuple[list[str], dict, pd.Series]:
    """LASSO (binomial/multinomial) with CV lambda. Gives (selected, summary dict, importance =
    max |standardised coef| over classes). If the chosen lambda keeps fewer than
    ``min_features``, the largest path lambda that keeps that many is used (stated in the dict)."""
    notes: list[str] = []
    fold = cv_folds(y, groups, nfolds, seed, notes, what="LASSO lambda")
    res = cv_lasso(X, np.asarray(y), foldid=fold, seed=seed, **LASSO_PATH)
    lam = res.lambda_min if rule == "min" else res.lambda_1se
    note = f"lambda.{rule}"
    sel = res.selected(lam)
    if len(sel) < min_features:
        nsel = [(b != 0).any(axis=0).sum() for b in res.coef_path]
        ok = [i for i, n in enumerate(nsel) if n >= min(min_features, X.shape[1])]
        if ok:
            lam = float(res.lambdas[ok[0]])
            sel = res.selected(lam)
            note = f"lambda.{rule} kept {len(res.selected(res.lambda_min if rule == 'min' else res.lambda_1se))} " \
                   f"feature(s); largest lambda keeping >= {min_features} used"
    coef = res.coef(lam).drop(index="(Intercept)")
    orig = res.coef(lam, scale="original")  # on the scale of X, for the Radscore
    importance = coef.abs().max(axis=1).loc[sel].sort_values(ascending=False)
    if keep is not None:  # the whole path and CV curve, for the appendix figures (liu2025_dlr fuse)
        keep["cv"] = res
    summary = {"lambda": float(lam), "lambda_min": float(res.lambda_min), "lambda_1se": float(res.lambda_1se),
               "rule": note, "nfolds": int(fold.max() + 1), "selected": sel,
               "coef": orig.loc[sel].to_dict(), "intercept": orig.loc["(Intercept)"].to_dict(),
               "warnings": notes}
    return sel, summary, importance


def corr_prune(X: pd.DataFrame, ranked: list[str], threshold: float = 0.5) -> tuple[list[str], list[dict]]:
    """Keep features in ``ranked`` order, dropping any with |Pearson r| > threshold to one kept."""
    r = X[ranked].corr().abs().fillna(0.0)
    kept, dropped = [], []
    for f in ranked:
        clash = [k for k in kept if r.at[f, k] > threshold]
        if clash:
            dropped.append({"feature": f, "correlated_with": clash[0], "r": float(r.at[f, clash[0]])})
        else:
            kept.append(f)
    return kept, dropped


class FusionModel:
    """Training-fitted DTL scaler + PCA, fused-feature scaler, final LASSO and Radscore."""

    def __init__(self, n_components: int | float = 16, seed: int = 0):
        self.n_components = n_components
        self.seed = seed

    def fit(self, rad: pd.DataFrame, dtl: pd.DataFrame, y, groups, nfolds: int, min_features: int = 2):
        self.dtl_cols_ = list(dtl.columns)
        self.dtl_scaler_ = StandardScaler().fit(dtl.to_numpy())
        nc = self.n_components
        if isinstance(nc, (int, np.integer)) or float(nc) >= 1:
            nc = int(min(int(nc), len(dtl) - 1, dtl.shape[1]))
        self.pca_ = PCA(n_components=nc, svd_solver="full", random_state=self.seed).fit(
            self.dtl_scaler_.transform(dtl.to_numpy()))
        fused = self._fuse(rad, dtl)
        self.fused_cols_ = list(fused.columns)
        self.scaler_ = StandardScaler().fit(fused.to_numpy())
        Z = pd.DataFrame(self.scaler_.transform(fused.to_numpy()), index=fused.index, columns=self.fused_cols_)
        keep = {}
        self.selected_, self.lasso_, imp = lasso_select(Z, y, groups, nfolds, self.seed, "min", min_features, keep)
        self.lasso_cv_ = keep["cv"]
        self.importance_ = imp
        coef = pd.DataFrame(self.lasso_["coef"])
        self.coef_ = coef.loc[self.selected_]
        self.intercept_ = np.array([self.lasso_["intercept"][c] for c in coef.columns])
        return self

    def _fuse(self, rad: pd.DataFrame, dtl: pd.DataFrame) -> pd.DataFrame:
        comps = self.pca_.transform(self.dtl_scaler_.transform(dtl[self.dtl_cols_].to_numpy()))
        pcs = pd.DataFrame(comps, index=dtl.index, columns=[f"dtl_pc{j + 1}" for j in range(comps.shape[1])])
        return pd.concat([rad, pcs], axis=1)

    def transform(self, rad: pd.DataFrame, dtl: pd.DataFrame) -> pd.DataFrame:
        """z-scored selected fused features of any rows (estimates from training only)."""
        fused = self._fuse(rad, dtl)[self.fused_cols_]
        Z = pd.DataFrame(self.scaler_.transform(fused.to_numpy()), index=fused.index, columns=self.fused_cols_)
        return Z[self.selected_]

    def radscore(self, Zsel: pd.DataFrame) -> pd.Series:
        """Radscore: expected ASTLOF class under the final LASSO, sum_k k * p_k (binomial: p_1)."""
        eta = Zsel[self.selected_].to_numpy() @ self.coef_.to_numpy() + self.intercept_
        if eta.shape[1] == 1:  # binomial
            p1 = 1 / (1 + np.exp(-eta[:, 0]))
            return pd.Series(p1, index=Zsel.index, name="radscore")
        eta = eta - eta.max(axis=1, keepdims=True)
        p = np.exp(eta)
        p /= p.sum(axis=1, keepdims=True)
        return pd.Series(p @ np.arange(p.shape[1]), index=Zsel.index, name="radscore")
