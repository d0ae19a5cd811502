"""Classifier zoo with grid search on training folds (liu2025_dlr stage 5)."""

from .zoo import MODELS, grid_search, load_models, make_estimator, pick_best, save_models

__all__ = ["MODELS", "grid_search", "load_models", "make_estimator", "pick_best", "save_models"]
