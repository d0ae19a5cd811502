"""Detection AP / PR curve (torchmetrics + pycocotools), the paper's Wilcoxon comparison of two
backbones, and a thin per-disease one-vs-all wrapper for the multi-label classifier.

Generic multi-label metrics belong to vfrepro.evaluate (helper B); this module only adds what
the paper reports and keeps every quantity defined when a class has no positives (NaN + note).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch
from scipy import stats as st

from vfrepro.evaluate.metrics import auc_ci

from .slices import CLASSES, DISEASES

CHOSEN: list[tuple[str, object, str]] = [
    ("ap", "torchmetrics MeanAveragePrecision, backend pycocotools, iou_thresholds=[0.5], "
     "101-point interpolated AP, maxDets 100, one class 'vertebra'",
     "paper: precision-recall curve and mAP; its MATLAB evaluateDetectionPrecision uses IoU 0.5"),
    ("wilcoxon_pairs", "precision of the two backbones at the same 101 recall points (two-sided)",
     "paper: 'comparison of the precision-recall curve, Wilcoxon signed rank test'; per-image APs "
     "offered as an alternative pairing (wilcoxon_per_image)"),
    ("classifier_threshold", "0.5 on each sigmoid output", "paper gives no other operating point"),
    ("patch_aggregation", "test score = mean of the 5 jittered patches' sigmoid outputs",
     "Appendix 1: 'the average diagnostic results of the augmented image patches'"),
    ("summary_mean_sd", "mean +- SD (ddof=1) over OVCF, OF, KD, PS (SN excluded)",
     "paper reports 'n=4' means without SN; SD taken as sample SD"),
    ("auc_ci", "cluster bootstrap over patients (vfrepro.evaluate.metrics.auc_ci with groups; n_boot, "
     "seed) when a patient has several rows; DeLong when each patient has one",
     "a patient contributes many vertebra patches, which DeLong would treat as independent"),
    ("per_class_metrics", "kept beside vfrepro.evaluate.metrics.one_vs_all, AUC from its auc_ci",
     "one_vs_all fixes the threshold at 0.5 and gives F1 = 0 (not NaN) to a class without "
     "positives that has false positives; Table 3 needs the configured threshold, the counts and NaN"),
    ("empty_class", "metrics with a zero denominator are NaN with a note; AUC needs >= 1 pos and neg",
     "a split may lack a rare class at demo size; never crash"),
]


def _as_tm(items: list[dict], with_scores: bool) -> list[dict]:
    out = []
    for d in items:
        b = torch.as_tensor(np.asarray(d["boxes"], np.float32)).reshape(-1, 4)
        lab = d.get("labels")
        lab = torch.ones(b.shape[0], dtype=torch.int64) if lab is None else \
            torch.as_tensor(np.asarray(lab)).to(torch.int64).reshape(-1)
        e = {"boxes": b, "labels": lab}
        if with_scores:
            e["scores"] = torch.as_tensor(np.asarray(d["scores"], np.float32)).reshape(-1)
        out.append(e)
    return out


def detection_ap(preds: list[dict], targets: list[dict], *, iou_threshold: float = 0.5) -> dict:
    """AP at one IoU and its precision-recall curve.

    `preds`: per image {"boxes" [n,4] xyxy, "scores" [n], "labels" [n] (optional, default 1)};
    `targets`: per image {"boxes", "labels" (optional)}.  Gives {"ap", "recall" [101],
    "precision" [101] (COCO-interpolated, 0 beyond the reached recall), "n_images"}.
    """
    from torchmetrics.detection import MeanAveragePrecision

    if len(preds) != len(targets):
        raise ValueError(f"{len(preds)} predictions for {len(targets)} targets")
    m = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", iou_thresholds=[iou_threshold],
                             extended_summary=True, backend="pycocotools")
    m.update(_as_tm(preds, True), _as_tm(targets, False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = m.compute()
    prec = r["precision"]            # [T, R, K, A, M]
    p = prec[0, :, :, 0, -1].numpy()  # all areas, largest maxDet; classes averaged as COCO does
    p = np.where(p < 0, np.nan, p)
    curve = np.nanmean(p, axis=1) if np.isfinite(p).any() else np.full(p.shape[0], np.nan)
    ap = float(r["map"])
    return {"ap": ap if ap >= 0 else float("nan"), "recall": np.linspace(0, 1, p.shape[0]),
            "precision": curve, "n_images": len(preds)}


def per_image_ap(preds: list[dict], targets: list[dict], *, iou_threshold: float = 0.5) -> np.ndarray:
    """AP of each image on its own (NaN for an image without annotated boxes)."""
    return np.array([detection_ap([p], [t], iou_threshold=iou_threshold)["ap"]
                     for p, t in zip(preds, targets)])


def _wilcoxon(a, b) -> dict:
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    d = a - b
    out = {"n_pairs": int(ok.sum()), "median_diff": float(np.median(d)) if d.size else float("nan")}
    if d.size == 0 or np.all(d == 0):
        return {**out, "statistic": float("nan"), "p": 1.0 if d.size else float("nan"),
                "note": "all paired differences are zero" if d.size else "no pairs"}
    res = st.wilcoxon(a, b, zero_method="wilcox", alternative="two-sided")
    return {**out, "statistic": float(res.statistic), "p": float(res.pvalue), "note": ""}


def wilcoxon_pr_curves(curve_a: dict, curve_b: dict) -> dict:
    """Wilcoxon signed-rank test of two PR curves paired at the same recall points."""
    return _wilcoxon(curve_a["precision"], curve_b["precision"])


def wilcoxon_per_image(ap_a, ap_b) -> dict:
    """Wilcoxon signed-rank test of per-image APs of two detectors on the same images."""
    return _wilcoxon(ap_a, ap_b)


# ----------------------------------------------------------------------------- classifier

def mean_over_patches(scores, group) -> tuple[np.ndarray, np.ndarray]:
    """Mean score per group (e.g. the 5 jittered patches of one box); gives (groups, [g, K])."""
    s = np.asarray(scores, float)
    s = s.reshape(len(s), -1)
    df = pd.DataFrame(s)
    df["_g"] = list(group)
    g = df.groupby("_g", sort=True).mean()
    return g.index.to_numpy(), g.to_numpy()


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


def per_class_metrics(y_true, y_score, *, classes=CLASSES, threshold: float = 0.5, groups=None,
                      n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One-vs-all per class: n_pos, n_neg, TP/FN/TN/FP, sensitivity, specificity, PPV, NPV, F1,
    accuracy, AUC with a 95% CI (vfrepro.evaluate.metrics.auc_ci: the cluster bootstrap of
    patients when ``groups`` repeat, else DeLong; ``auc_ci_method`` says which; NaN CI below its
    minimum counts); NaN and a note where undefined.

    Not a layer over evaluate.metrics.one_vs_all: that fixes the threshold at 0.5 and gives F1
    0 to a class without positives but with false positives, where Table 3 gives NaN."""
    y = np.asarray(y_true).astype(int)
    s = np.asarray(y_score, float)
    if y.shape != s.shape or y.ndim != 2 or y.shape[1] != len(classes):
        raise ValueError(f"y_true {y.shape} and y_score {s.shape} must be [n, {len(classes)}]")
    rows = []
    for k, c in enumerate(classes):
        t, sc = y[:, k], s[:, k]
        pr = (sc >= threshold).astype(int)
        tp, fn = int(((t == 1) & (pr == 1)).sum()), int(((t == 1) & (pr == 0)).sum())
        tn, fp = int(((t == 0) & (pr == 0)).sum()), int(((t == 0) & (pr == 1)).sum())
        sens, spec = _ratio(tp, tp + fn), _ratio(tn, tn + fp)
        ppv, npv = _ratio(tp, tp + fp), _ratio(tn, tn + fn)
        f1 = _ratio(2 * tp, 2 * tp + fp + fn) if tp + fn else float("nan")
        notes = []
        if tp + fn == 0:
            notes.append("no positives")
        if tn + fp == 0:
            notes.append("no negatives")
        if tp + fp == 0 and tp + fn > 0:
            notes.append("no predicted positives (PPV undefined)")
        a = auc_ci(t, sc, "delong", n_boot=n_boot, seed=seed, groups=groups)
        auc, lo, hi = a["value"], a["ci_low"], a["ci_high"]
        if tp + fn and tn + fp and a["note"]:
            notes.append(f"AUC: {a['note']}")
        rows.append({"class": c, "n_pos": tp + fn, "n_neg": tn + fp, "tp": tp, "fn": fn, "tn": tn,
                     "fp": fp, "sensitivity": sens, "specificity": spec, "ppv": ppv, "npv": npv,
                     "f1": f1, "accuracy": _ratio(tp + tn, len(t)), "auc": auc, "auc_ci_low": lo,
                     "auc_ci_high": hi, "auc_ci_method": a["method"], "note": "; ".join(notes)})
    return pd.DataFrame(rows)


def summary_without(table: pd.DataFrame, *, exclude=("sn", "normal"),
                    columns=("sensitivity", "specificity", "ppv", "npv", "f1")) -> pd.DataFrame:
    """Mean and SD (ddof=1) over the classes not excluded (the paper's four-disease summary)."""
    sub = table[~table["class"].isin(exclude)]
    return pd.DataFrame({"mean": sub[list(columns)].mean(), "sd": sub[list(columns)].std(ddof=1),
                         "n": sub[list(columns)].notna().sum()})


__all__ = ["CHOSEN", "detection_ap", "per_image_ap", "wilcoxon_pr_curves", "wilcoxon_per_image",
           "mean_over_patches", "per_class_metrics", "summary_without", "DISEASES", "CLASSES"]
