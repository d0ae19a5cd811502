"""rosenberg_xray evaluation: per-architecture binary metrics, the DeLong test ResNet18 vs
VGG16, the Figure 4 table (published beside reproduced) and the figures' panels."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...errors import InputError
from ...evaluate import metrics as M
from ...evaluate import published as pub
from ...evaluate.figures import ConfusionPanel, Curve, RocPanel
from .study import CLASS_NAMES, STUDY

COUNTS = ("TN", "FP", "FN", "TP")
HEADLINE = ("accuracy", "sensitivity", "specificity", "auc")


def binary_metrics(pred: pd.DataFrame) -> dict:
    """Confusion counts, accuracy/sensitivity/specificity and AUC with DeLong 95% CI."""
    return M.binary((pred["truth"].astype(str) == "1").to_numpy(), pred["prob_1"].to_numpy(float),
                    (pred["pred"].astype(str) == "1").to_numpy())


def figure4_table(metrics: dict[str, dict]) -> pd.DataFrame:
    """The paper's Figure 4 (confusion matrices, % of test set) + headline metrics, published
    beside reproduced, one row per (model, quantity) of the published models."""
    P = pub.load(STUDY)
    archs = list(dict.fromkeys(P.records["row"]))
    rep = pd.DataFrame([{"row": a, "column": "test", "quantity": q} for a in archs for q in COUNTS + HEADLINE])
    t = pub.beside(rep, P)
    rows = []
    for arch in archs:
        r = metrics.get(arch)
        mine = t[t["row"] == arch].set_index("quantity")["published"]
        n_pub = sum(mine[c] for c in COUNTS)
        for q in COUNTS:
            rows.append({"model": arch, "quantity": q, "published": mine[q],
                         "published_pct": round(100 * mine[q] / n_pub, 1),
                         "reproduced": r[q] if r else None,
                         "reproduced_pct": round(100 * r[q] / r["n"], 1) if r else None})
        for q in HEADLINE:
            row = {"model": arch, "quantity": q, "published": mine[q], "published_pct": None,
                   "reproduced": round(r[q], 3) if r else None, "reproduced_pct": None}
            if q == "auc" and r:
                row["reproduced_ci95"] = f"{r['auc_ci_low']:.3f}-{r['auc_ci_high']:.3f}"
            rows.append(row)
    return pd.DataFrame(rows)


def delong(preds: dict[str, pd.DataFrame]) -> dict:
    """DeLong test ResNet18 vs VGG16 on the same test vertebrae."""
    from ...stats.roc import delong_test
    if not {"resnet18", "vgg16"} <= set(preds):
        return {"note": "needs exactly resnet18 and vgg16 predictions on the same cases"}
    a, b = preds["resnet18"], preds["vgg16"]
    j = a.merge(b, on=["case_id", "level"], suffixes=("_a", "_b"))
    if len(j) != len(a) or len(j) != len(b):
        raise InputError("resnet18 and vgg16 predictions are not on the same test cases", field="case_id")
    y = (j["truth_a"] == "1").to_numpy().astype(int)
    return {"model_a": "resnet18", "model_b": "vgg16", "n": len(j),
            **delong_test(y, j["prob_1_a"].to_numpy(float), j["prob_1_b"].to_numpy(float))}


def evaluate(preds: dict[str, pd.DataFrame], inits: dict[str, str] | None = None) -> dict:
    """From each architecture's (validated) predictions: ``metrics`` (dict per arch),
    ``metrics_table``, ``figure4``, ``delong``, ``roc`` and ``confusion`` panels."""
    inits = inits or {}
    metrics = {a: binary_metrics(p) for a, p in preds.items()}
    table = pd.DataFrame([{"model": a, "init": inits.get(a, ""), **v} for a, v in metrics.items()])
    P = pub.load(STUDY)
    fig4 = figure4_table(metrics)
    fig4["note"] = ""
    fig4.loc[0, "note"] = P.note + "; reproduced: " + "; ".join(f"{a} init {inits.get(a, '?')}" for a in metrics)
    roc = RocPanel("test set")
    for arch, p in preds.items():
        m = metrics[arch]
        published = P.value(arch, "test", "auc", None)
        roc.curves.append(Curve(f"{arch} AUC {m['auc']:.3f} ({m['auc_ci_low']:.2f}-{m['auc_ci_high']:.2f})"
                                + (f"; published {published:.2f}" if published is not None else ""),
                                (p["truth"] == "1").to_numpy().astype(int), p["prob_1"].to_numpy(float)))
    names = [CLASS_NAMES[c] for c in ("0", "1")]
    confusion = [ConfusionPanel(f"{arch} (reproduced, n={m['n']})", np.array([[m["TN"], m["FP"]], [m["FN"], m["TP"]]]),
                                names, [["TN", "FP"], ["FN", "TP"]]) for arch, m in metrics.items()]
    return {"metrics": metrics, "metrics_table": table, "figure4": fig4, "delong": delong(preds),
            "roc": [roc], "confusion": confusion}


# the tables the reproduction verdict reads (results/rosenberg_xray/...)
REPRODUCTION_INPUTS = ("metrics.csv",)


def reproduced_long(results) -> pd.DataFrame:
    """This study's reproduced numbers in the verdict's long form (vfrepro.evaluate.verdict):
    from ``metrics.csv``, one row per (architecture, test, quantity); the AUC with its DeLong
    CI, the proportions with their denominators (accuracy n, sensitivity TP+FN, specificity TN+FP)."""
    from pathlib import Path
    m = pd.read_csv(Path(results) / "metrics.csv")
    rows = []
    for r in m.to_dict("records"):
        base = {"row": str(r["model"]), "column": "test"}
        for q in COUNTS:
            rows.append({**base, "quantity": q, "value": r[q]})
        dens = {"accuracy": r["n"], "sensitivity": r["TP"] + r["FN"], "specificity": r["TN"] + r["FP"]}
        for q, n in dens.items():
            rows.append({**base, "quantity": q, "value": r[q], "n": n})
        rows.append({**base, "quantity": "auc", "value": r["auc"], "ci_low": r["auc_ci_low"],
                     "ci_high": r["auc_ci_high"], "ci_method": "DeLong"})
    return pd.DataFrame(rows)


# the predictions files of one run, one per architecture (``vfrepro tables`` NAME=CSV)
PREDICTION_MODELS = ("resnet18", "vgg16")


def from_predictions(paths: dict, out, cfg: dict, infos: dict | None = None) -> list[str]:
    """The evaluate stage's files from the architectures' predictions files (its own command:
    nothing recomputed differently). ``infos``: train_info.json per architecture (the init
    column), optional."""
    import argparse
    from .cli import _evaluate
    archs = list(paths)
    _evaluate(argparse.Namespace(archs=archs, predictions=[str(paths[a]) for a in archs],
                                 infos=[str(infos[a]) for a in archs] if infos else None, out=str(out)))
    return ["metrics.csv", "figure4_table.csv", "delong.json", "confusion_matrices.png", "roc.png"]
