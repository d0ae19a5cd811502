"""Classifier zoo with grid search on training folds (liu2025_dlr stage 5)."""

from .zoo import CHOSEN, MODELS, SCORING, grid_search, load_models, make_estimator, oof_proba, pick_best, save_models

__all__ = ["CHOSEN", "SCORING", "oof_proba", "MODELS", "grid_search", "load_models", "make_estimator", "pick_best", "save_models"]
