"""SHAP explanations of a fitted classifier: global bar and beeswarm per class, the stacked
multi-class global bar (the paper's Fig 7A), and decision plots of single cases (Fig 8). TreeExplainer for tree models, KernelExplainer (k-means
background of training rows, a capped number of explained cases) for the others."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

TREE_MODELS = {"DT", "RF", "ExtraTrees", "XGBoost", "LightGBM"}

CHOSEN: list[tuple[str, object, str]] = [
    ("shap.explainer", "TreeExplainer for tree models, KernelExplainer (k-means background of training rows) "
     "otherwise, numpy's global RNG seeded around the call", "the paper names SHAP without the explainer; "
     "KernelExplainer ignores its own seed in shap 0.51"),
    ("shap.stacked_bar", "mean |SHAP| per feature stacked over the 3 classes (shap.summary_plot, list of "
     "per-class values, plot_type='bar')", "the paper's Fig 7A"),
    ("shap.prospective_cases", "one prospective vertebra per true class, drawn with the seed (none when the "
     "class is absent)", "the paper's Fig 8 shows one prospective case per class without saying how they "
     "were picked; a seeded draw avoids choosing the best-looking one"),
]


def shap_values(model, name: str, X_train: pd.DataFrame, X_explain: pd.DataFrame, background: int = 10,
                nsamples: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """(values (n, f, K), expected values (K,), explainer name)."""
    import shap

    if name in TREE_MODELS:
        ex = shap.TreeExplainer(model)
        vals = ex.shap_values(X_explain.to_numpy())
        kind = "TreeExplainer"
    else:
        bg = shap.kmeans(X_train.to_numpy(), min(background, len(X_train)))
        ex = shap.KernelExplainer(model.predict_proba, bg)
        # KernelExplainer draws its coalitions from numpy's global RNG (its `seed` argument is
        # ignored in shap 0.51): seed that, so the same config gives the same SHAP tables.
        state = np.random.get_state()
        np.random.seed(seed % 2**32)
        try:
            vals = ex.shap_values(X_explain.to_numpy(), nsamples=nsamples, silent=True)
        finally:
            np.random.set_state(state)
        kind = f"KernelExplainer (k-means background {min(background, len(X_train))}, nsamples {nsamples})"
    if isinstance(vals, list):
        vals = np.stack(vals, axis=-1)
    vals = np.asarray(vals)
    if vals.ndim == 2:  # binary tree models may give one margin column
        vals = np.stack([-vals, vals], axis=-1)
    exp = np.atleast_1d(np.asarray(ex.expected_value, float))
    if len(exp) == 1 and vals.shape[-1] == 2:
        exp = np.array([-exp[0], exp[0]])
    return vals, exp, kind


def figures(vals: np.ndarray, expected: np.ndarray, X: pd.DataFrame, truth: np.ndarray, proba: np.ndarray,
            classes: list, outputs: dict[str, list[str]], title: str) -> None:
    """outputs: {"bar": [png per class], "beeswarm": [...], "decision": [...]}."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    names = list(X.columns)
    for k, cls in enumerate(classes):
        for kind in ("bar", "beeswarm"):
            plt.figure()
            shap.summary_plot(vals[:, :, k], X.to_numpy(), feature_names=names, show=False,
                              plot_type="bar" if kind == "bar" else "dot", max_display=15)
            plt.title(f"{title}: class {cls} ({kind})", fontsize=9)
            plt.tight_layout()
            Path(outputs[kind][k]).parent.mkdir(parents=True, exist_ok=True)
            plt.savefig(outputs[kind][k], dpi=100)
            plt.close("all")
        # Decision plot of one case of this class: the one the model gives the highest p(class).
        members = np.where(truth == cls)[0]
        i = int(members[np.argmax(proba[members, k])]) if len(members) else int(np.argmax(proba[:, k]))
        note = "" if len(members) else " (no case of this class among explained; highest p shown)"
        plt.figure()
        shap.decision_plot(float(expected[k]), vals[i, :, k], X.iloc[i].to_numpy(), feature_names=names,
                           show=False)
        plt.title(f"{title}: class {cls}, one case{note}", fontsize=9)
        plt.tight_layout()
        plt.savefig(outputs["decision"][k], dpi=100)
        plt.close("all")


def stacked_bar(vals: np.ndarray, X: pd.DataFrame, classes: list, path: str, title: str,
                max_display: int = 15) -> None:
    """Global mean |SHAP| per feature, one stacked segment per class (shap's multi-output bar)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    plt.figure()
    shap.summary_plot([vals[:, :, k] for k in range(vals.shape[-1])], X.to_numpy(), feature_names=list(X.columns),
                      plot_type="bar", class_names=[f"class {c}" for c in classes], max_display=max_display,
                      show=False)
    plt.title(f"{title}: global mean |SHAP|, 3 classes", fontsize=9)
    plt.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    plt.savefig(path, dpi=100)
    plt.close("all")


def decision_case(expected: float, vals: np.ndarray | None, x: np.ndarray | None, names: list[str], path: str,
                  title: str) -> None:
    """Decision plot of one case (its SHAP values for one class); a note figure when there is none."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    plt.figure()
    if vals is None:
        plt.text(0.5, 0.5, "no vertebra of this class in the prospective cohort", ha="center", va="center")
        plt.axis("off")
    else:
        shap.decision_plot(float(expected), vals, x, feature_names=names, show=False)
    plt.title(title, fontsize=9)
    plt.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    plt.savefig(path, dpi=100)
    plt.close("all")


def top_features(vals: np.ndarray, names: list[str], classes: list) -> pd.DataFrame:
    """Mean |SHAP| per feature and class (the global bar's numbers)."""
    m = np.abs(vals).mean(axis=0)
    t = pd.DataFrame(m, index=names, columns=[f"class_{c}" for c in classes])
    t["overall"] = t.mean(axis=1)
    return t.sort_values("overall", ascending=False).rename_axis("feature").reset_index()
