"""Model explanations (SHAP figures)."""
