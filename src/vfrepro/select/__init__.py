"""Feature selection (liu2025_dlr): ICC, Spearman greedy, LASSO, correlation pruning, fusion, Radscore."""

from .core import FusionModel, corr_prune, cv_folds, icc_filter, lasso_select, spearman_greedy

__all__ = ["FusionModel", "corr_prune", "cv_folds", "icc_filter", "lasso_select", "spearman_greedy"]
