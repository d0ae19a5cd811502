"""The two figures every study draws: ROC curves and confusion matrices, one panel per
split / dataset (or one panel), saved as PNG."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Curve", "RocPanel", "roc_figure", "ConfusionPanel", "confusion_figure", "pyplot", "save"]


@dataclass
class Curve:
    label: str
    truth: np.ndarray          # 0/1
    score: np.ndarray


@dataclass
class RocPanel:
    title: str
    curves: list[Curve] = field(default_factory=list)


def pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _band(y, score, grid, n_boot, rng):
    """Pointwise stratified-bootstrap 95% band of the TPR at fixed FPR."""
    from sklearn.metrics import roc_curve
    pos, neg = np.where(y == 1)[0], np.where(y == 0)[0]
    curves = []
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        f, t, _ = roc_curve(y[idx], score[idx])
        curves.append(np.interp(grid, f, t))
    return np.quantile(curves, [0.025, 0.975], axis=0)


def roc_figure(panels: list[RocPanel], path, title: str = "", band_boot: int = 0, seed: int = 0,
               dpi: int = 110) -> None:
    """One ROC panel per entry; a curve whose truth lacks positives or negatives is skipped
    (said in the panel when none is left). ``band_boot`` > 0 adds a bootstrap 95% band."""
    from sklearn.metrics import roc_curve
    plt = pyplot()
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 4), sharey=True, squeeze=False)
    grid = np.linspace(0, 1, 101)
    rng = np.random.default_rng(seed)
    for ax, panel in zip(axes[0], panels):
        for i, c in enumerate(panel.curves):
            y, s = np.asarray(c.truth).astype(int), np.asarray(c.score, float)
            if not 0 < y.sum() < len(y):
                continue
            fpr, tpr, _ = roc_curve(y, s)
            line, = ax.plot(fpr, tpr, color=f"C{i}", label=c.label)
            if band_boot:
                lo, hi = _band(y, s, grid, band_boot, rng)
                ax.fill_between(grid, lo, hi, color=line.get_color(), alpha=0.15)
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set_title(panel.title, fontsize=9)
        ax.set_xlabel("1 - specificity")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower right", fontsize=7)
        else:
            ax.text(0.5, 0.1, "no class with both positives and negatives", ha="center", fontsize=7)
    axes[0, 0].set_ylabel("sensitivity")
    if title:
        fig.suptitle(title, fontsize=9)
    save(fig, path, dpi)


@dataclass
class ConfusionPanel:
    title: str
    matrix: np.ndarray         # rows truth, columns prediction (counts)
    labels: list[str]
    cell_names: list[list[str]] | None = None   # e.g. [["TN", "FP"], ["FN", "TP"]]


def confusion_figure(panels: list[ConfusionPanel], path, normalise: str = "true", title: str = "",
                     dpi: int = 110) -> None:
    """Confusion matrices, one panel each: counts with the share of the row (``normalise=
    "true"``, colour = that share) or of the whole panel (``"all"``)."""
    plt = pyplot()
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(3.8 * n, 3.6), squeeze=False)
    for ax, p in zip(axes[0], panels):
        cm = np.asarray(p.matrix, float)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = cm / (cm.sum(axis=1, keepdims=True) if normalise == "true" else cm.sum())
        ax.imshow(np.nan_to_num(share), vmin=0, vmax=1, cmap="Blues")
        for (r, c), v in np.ndenumerate(share):
            name = f"{p.cell_names[r][c]} " if p.cell_names else ""
            text = "-" if np.isnan(v) else f"{name}{int(cm[r, c])}\n{100 * v:.1f}%"
            ax.text(c, r, text, ha="center", va="center", fontsize=8)
        k = len(p.labels)
        ax.set_xticks(range(k), p.labels, fontsize=7)
        ax.set_yticks(range(k), p.labels, fontsize=7)
        ax.set_xlabel("Predicted")
        ax.set_ylabel("True")
        ax.set_title(p.title, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=9)
    save(fig, path, dpi)


def save(fig, path, dpi: int = 110) -> None:
    from pathlib import Path
    import matplotlib.pyplot as plt
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
