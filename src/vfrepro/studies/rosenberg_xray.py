"""rosenberg_xray: fracture vs no fracture on lateral radiograph vertebra crops (ResNet18 vs VGG16).

Sanchez Rosenberg et al. (AO Research Institute Davos; seed 001). Training: the engine
(vfrepro.deep) with 10-fold CV over learning rate and batch size on the training set, refit
on all of it. Evaluation here: confusion matrices, accuracy, sensitivity, specificity, ROC AUC
with DeLong CI (vfrepro.stats.roc), DeLong test ResNet18 vs VGG16, ROC figure, class activation
maps for TP/TN/FP/FN samples, and the paper's Figure 4 layout with published beside reproduced.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..deep.data import CropSpec, check_columns, crop_spec_from_config
from ..errors import InputError

CLASSES = ["0", "1"]          # no fracture, fracture (manifest column `fracture`)
CLASS_NAMES = {"0": "no fracture", "1": "fracture"}
LABEL_COL = "fracture"
COLUMNS = ("case_id", "xray_lateral_path", "lat_x0", "lat_y0", "lat_x1", "lat_y1", "fracture", "split")

# Published test-set results (n = 52): Figure 4 (confusion matrices) and text (AUC).
# Source: Sanchez Rosenberg et al., seed 001, Results "Deep Learning Model", Fig. 4 and Fig. 5.
PUBLISHED = {
    "resnet18": {"TN": 25, "FP": 3, "FN": 3, "TP": 21, "accuracy": 0.88, "sensitivity": 0.89,
                 "specificity": 0.88, "auc": 0.88},
    "vgg16": {"TN": 25, "FP": 5, "FN": 3, "TP": 19, "accuracy": 0.84, "sensitivity": 0.89,
              "specificity": 0.79, "auc": 0.86},
}
PUBLISHED_NOTE = ("published values as printed (sensitivity 89% for both models although "
                  "21/24 and 19/22 give 87.5% and 86.4%); test n = 52")


def crop_spec(cfg: dict) -> CropSpec:
    return crop_spec_from_config(cfg, rotation_deg=10, hflip=True, vflip=False, shift=0.05)


def prepare(table: pd.DataFrame, cfg: dict):
    """Training rows (splits ``train_splits``) and test rows (``test_splits``, dataset 'test')."""
    check_columns(table, COLUMNS, "rosenberg_xray")
    t = table[table["fracture"].notna()].copy()
    t["fracture"] = t["fracture"].astype(int).astype(str)
    tr = t[t["split"].isin(cfg.get("train_splits", ["train"]))].reset_index(drop=True)
    ev = t[t["split"].isin(cfg.get("test_splits", ["internal"]))].reset_index(drop=True)
    overlap = set(tr["case_id"]) & set(ev["case_id"])
    if overlap:
        raise InputError(f"case(s) in both the training and the test splits: {sorted(overlap)[:5]}",
                         case=sorted(overlap)[0], field="split")
    for name, part in (("training", tr), ("test", ev)):
        n = part["fracture"].value_counts()
        if len(n) < 2:
            raise InputError(f"rosenberg_xray: the {name} rows (splits "
                             f"{cfg.get('train_splits' if name == 'training' else 'test_splits')}) "
                             f"need both fracture classes, found {n.to_dict()}", field="fracture")
    ev["dataset"] = "test"
    return tr, ev


def binary_metrics(pred: pd.DataFrame, n_boot: int = 0, seed: int = 0) -> dict:
    """Confusion counts, accuracy/sensitivity/specificity and AUC with DeLong 95% CI."""
    from ..stats.roc import delong_ci
    y = (pred["truth"].astype(str) == "1").to_numpy().astype(int)
    score = pred["prob_1"].to_numpy(float)
    yhat = (pred["pred"].astype(str) == "1").to_numpy().astype(int)
    tp = int(((y == 1) & (yhat == 1)).sum())
    tn = int(((y == 0) & (yhat == 0)).sum())
    fp = int(((y == 0) & (yhat == 1)).sum())
    fn = int(((y == 1) & (yhat == 0)).sum())
    n = len(y)
    r = delong_ci(y, score)
    return {"n": n, "TN": tn, "FP": fp, "FN": fn, "TP": tp, "accuracy": (tp + tn) / n,
            "sensitivity": tp / (tp + fn) if tp + fn else float("nan"),
            "specificity": tn / (tn + fp) if tn + fp else float("nan"),
            "auc": r.auc, "auc_ci_low": r.ci_low, "auc_ci_high": r.ci_high}


def figure4_table(metrics: dict[str, dict]) -> pd.DataFrame:
    """The paper's Figure 4 (confusion matrices, % of test set) + headline metrics, published
    beside reproduced, one row per (model, quantity)."""
    rows = []
    for arch in PUBLISHED:
        pub = PUBLISHED[arch]
        rep = metrics.get(arch)
        n_pub = sum(pub[c] for c in ("TN", "FP", "FN", "TP"))
        for q in ("TN", "FP", "FN", "TP"):
            rows.append({"model": arch, "quantity": q, "published": pub[q],
                         "published_pct": round(100 * pub[q] / n_pub, 1),
                         "reproduced": rep[q] if rep else None,
                         "reproduced_pct": round(100 * rep[q] / rep["n"], 1) if rep else None})
        for q in ("accuracy", "sensitivity", "specificity", "auc"):
            row = {"model": arch, "quantity": q, "published": pub[q], "published_pct": None,
                   "reproduced": round(rep[q], 3) if rep else None, "reproduced_pct": None}
            if q == "auc" and rep:
                row["reproduced_ci95"] = f"{rep['auc_ci_low']:.3f}-{rep['auc_ci_high']:.3f}"
            rows.append(row)
    return pd.DataFrame(rows)


def evaluate(pred_paths: dict[str, str], out_dir, info_paths: dict[str, str] | None = None) -> dict:
    """Metrics, Figure 4 table, DeLong test and figures from each architecture's predictions."""
    from ..stats.roc import delong_test
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    preds = {a: pd.read_csv(p, dtype={"case_id": str, "truth": str, "pred": str}) for a, p in pred_paths.items()}
    inits = {}
    for a, p in (info_paths or {}).items():
        inits[a] = json.loads(Path(p).read_text())["init"]
    metrics = {a: binary_metrics(p) for a, p in preds.items()}
    m = pd.DataFrame([{"model": a, "init": inits.get(a, ""), **v} for a, v in metrics.items()])
    m.to_csv(out / "metrics.csv", index=False)
    fig4 = figure4_table(metrics)
    fig4["note"] = ""
    fig4.loc[0, "note"] = PUBLISHED_NOTE + "; reproduced: " + "; ".join(
        f"{a} init {inits.get(a, '?')}" for a in metrics)
    fig4.to_csv(out / "figure4_table.csv", index=False)

    delong = {"note": "needs exactly resnet18 and vgg16 predictions on the same cases"}
    if {"resnet18", "vgg16"} <= set(preds):
        a, b = preds["resnet18"], preds["vgg16"]
        key = ["case_id", "level"]
        j = a.merge(b, on=key, suffixes=("_a", "_b"))
        if len(j) != len(a) or len(j) != len(b):
            raise InputError("resnet18 and vgg16 predictions are not on the same test cases",
                             path=str(pred_paths["vgg16"]))
        y = (j["truth_a"] == "1").to_numpy().astype(int)
        delong = {"model_a": "resnet18", "model_b": "vgg16", "n": len(j),
                  **delong_test(y, j["prob_1_a"].to_numpy(float), j["prob_1_b"].to_numpy(float))}
    (out / "delong.json").write_text(json.dumps(delong, indent=1))
    _plot_confusion(metrics, out / "confusion_matrices.png")
    _plot_roc(preds, metrics, out / "roc.png")
    return {"metrics": metrics, "delong": delong}


def _plot_confusion(metrics, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.6), squeeze=False)
    for ax, (arch, m) in zip(axes[0], metrics.items()):
        cm = np.array([[m["TN"], m["FP"]], [m["FN"], m["TP"]]])
        ax.imshow(cm, cmap="Blues")
        for (i, j), lab in np.ndenumerate(np.array([["TN", "FP"], ["FN", "TP"]])):
            ax.text(j, i, f"{lab} {cm[i, j]}\n{100 * cm[i, j] / m['n']:.1f}%", ha="center", va="center")
        ax.set_xticks([0, 1], ["no fracture", "fracture"])
        ax.set_yticks([0, 1], ["no fracture", "fracture"])
        ax.set_xlabel("Model")
        ax.set_ylabel("Ground truth")
        ax.set_title(f"{arch} (reproduced, n={m['n']})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_roc(preds, metrics, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for arch, p in preds.items():
        y = (p["truth"] == "1").to_numpy().astype(int)
        fpr, tpr, _ = roc_curve(y, p["prob_1"].to_numpy(float))
        m = metrics[arch]
        ax.plot(fpr, tpr, label=f"{arch} AUC {m['auc']:.3f} ({m['auc_ci_low']:.2f}-{m['auc_ci_high']:.2f})"
                + (f"; published {PUBLISHED[arch]['auc']:.2f}" if arch in PUBLISHED else ""))
    ax.plot([0, 1], [0, 1], ls=":", c="grey")
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("Sensitivity")
    ax.set_title("rosenberg_xray: test set ROC")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def cam_figure(model_path, pred_path, table: pd.DataFrame, out_png, out_csv, per_group: int = 4,
               seed: int = 0) -> pd.DataFrame:
    """CAMs over the crop for up to ``per_group`` seeded samples of each of TP/TN/FP/FN."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from ..deep.cam import class_activation_maps
    from ..deep.data import CropDataset, load_crops
    from ..deep.run import load_trained

    model, ck = load_trained(model_path)
    spec = CropSpec(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in ck["crop"].items()})
    pred = pd.read_csv(pred_path, dtype={"case_id": str, "truth": str, "pred": str})
    pred["group"] = np.select([(pred.truth == "1") & (pred.pred == "1"), (pred.truth == "0") & (pred.pred == "0"),
                               (pred.truth == "0") & (pred.pred == "1")], ["TP", "TN", "FP"], "FN")
    rng = np.random.default_rng(seed)
    picked = []
    for g in ("TP", "TN", "FP", "FN"):
        idx = np.flatnonzero(pred["group"].to_numpy() == g)
        picked += [(g, i) for i in sorted(rng.permutation(idx)[:per_group])]
    rows = pred.iloc[[i for _, i in picked]].reset_index(drop=True)
    src = table.merge(rows[["case_id", "level"]], on=["case_id", "level"], how="right")
    records = []
    ncol = max(1, per_group)
    fig, axes = plt.subplots(4, ncol, figsize=(2.2 * ncol, 9), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    if len(src):
        crops = load_crops(src, spec)
        ds = CropDataset(crops, np.zeros(len(src), dtype=int), spec, train=False)
        x = torch.stack([ds[i][0] for i in range(len(ds))])
        maps, cls = class_activation_maps(model, ck["arch"], x)
        counters = {g: 0 for g in ("TP", "TN", "FP", "FN")}
        for i, (g, _) in enumerate(picked):
            r = rows.iloc[i]
            gi = ("TP", "TN", "FP", "FN").index(g)
            ax = axes[gi, counters[g]]
            counters[g] += 1
            ax.imshow(crops[i, 0].numpy(), cmap="gray")
            ax.imshow(maps[i], cmap="jet", alpha=0.4)
            ax.set_title(f"{g} {r.case_id[:7]} {r.level}\np(fx)={r.prob_1:.2f}", fontsize=7)
            # Where the map's peak is (crop-relative), for a reader to check against the lesion.
            py, px = np.unravel_index(np.argmax(maps[i]), maps[i].shape)
            records.append({"group": g, "case_id": r.case_id, "level": r.level, "truth": r.truth,
                            "pred": r.pred, "prob_fracture": r.prob_1, "cam_class": ck["classes"][cls[i]],
                            "peak_y_frac": py / maps[i].shape[0], "peak_x_frac": px / maps[i].shape[1]})
    fig.suptitle(f"{ck['arch']} class activation maps (rows TP, TN, FP, FN); init: {ck['init']}",
                 fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    rec = pd.DataFrame(records, columns=["group", "case_id", "level", "truth", "pred", "prob_fracture",
                                         "cam_class", "peak_y_frac", "peak_x_frac"])
    rec.to_csv(out_csv, index=False)
    return rec
