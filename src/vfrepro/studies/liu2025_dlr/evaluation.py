"""liu2025_dlr evaluation: per-split one-vs-rest metrics (bootstrap CIs), DeLong RadImageNet vs
ImageNet, ROC panels and Table 3 (published beside reproduced). Computes and returns; the CLI
layer writes the files."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
import pandas as pd

from vfrepro.evaluate import published as pub
from vfrepro.evaluate.figures import Curve, RocPanel
from vfrepro.evaluate.metrics import one_vs_rest, paired_auc_diff, paired_macro_auc
from vfrepro.evaluate.schema import class_index, prob_columns

from .cohort import BACKBONE_NAMES, BACKBONES, CLASSES, SPLIT_NAMES, SPLITS, STUDY

NAMES = [str(k) for k in CLASSES]
PER_CLASS = ("auc", "accuracy", "sensitivity", "specificity")
OVERALL = ("accuracy", "macro_auc", "micro_auc")
P_ADJUST = "holm"

if "CHOSEN" not in globals():
    CHOSEN: list[tuple[str, object, str]] = []
CHOSEN += [
    ("resampling unit", "patient",
     "a patient contributes several vertebrae: every bootstrap CI and the paired comparisons draw "
     "patients with all their vertebrae (cluster bootstrap, not class-stratified); the paper "
     "resamples (or tests) vertebrae as if independent"),
    ("per-class comparison", "DeLong (pROC roc.test) beside a paired cluster-bootstrap p",
     "the paper's DeLong treats vertebrae as independent; the patient-level bootstrap p is the one "
     "that respects clustering"),
    ("multiplicity correction", "Holm over the per-class tests of delong.csv (3 classes x the splits "
     "present, tests that could run), separately for the DeLong and the bootstrap p",
     "the paper reports uncorrected per-class P values"),
    ("macro AUC comparison", "paired patient-level bootstrap of macro AUC RadImageNet - ImageNet per split; "
     "p = 2 min(tail share at 0) with floor 2/(B+1); Holm over the splits",
     "the paper's headline claim (RadImageNet better, P < .05) names DeLong, which is defined for one "
     "ROC curve, not a macro average"),
    ("CI minimum", "fewer than 5 positives, 5 negatives (patients when patients are resampled) or "
     "5 patients: no CI (n/a)", "a percentile interval from a handful of cases is degenerate"),
]


def metrics(preds: dict[str, pd.DataFrame], n_boot: int, seed: int) -> pd.DataFrame:
    """One row per (backbone, split, class | overall, metric) with value and 95% CI."""
    rows = []
    for bb, pr in preds.items():
        for s in SPLITS:
            d = pr[pr["split"] == s]
            if d.empty:
                continue
            # A patient contributes several vertebrae: the bootstrap resamples patients.
            res = one_vs_rest(class_index(d["truth"], NAMES), d[prob_columns(NAMES)].to_numpy(), list(CLASSES),
                              ci="bootstrap", n_boot=n_boot, seed=seed, groups=d["patient"].astype(str).to_numpy())
            base = {"backbone": bb, "model": d["model"].iloc[0], "split": s}
            tail = {"n": len(d), "n_patients": res["n_groups"], "ci_method": res.get("method", ""),
                    "note": res["note"]}
            for k in NAMES:
                for met in PER_CLASS:
                    v = res["per_class"][k][met]
                    rows.append({**base, "class": k, "metric": met, "value": v["value"],
                                 "ci_low": v.get("ci_low", np.nan), "ci_high": v.get("ci_high", np.nan), **tail})
            for met in OVERALL:
                v = res["overall"][met]
                rows.append({**base, "class": "overall", "metric": met, "value": v["value"],
                             "ci_low": v.get("ci_low", np.nan), "ci_high": v.get("ci_high", np.nan), **tail})
    return pd.DataFrame(rows)


def _paired(preds: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """RadImageNet (_a) and ImageNet (_b) predictions on the vertebrae both scored."""
    return preds["radimagenet"].merge(preds["imagenet"], on=["case_id", "mask_label"], suffixes=("_a", "_b"))


def delong(preds: dict[str, pd.DataFrame], n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """RadImageNet vs ImageNet per split and class (one-vs-rest), on the vertebrae both scored:
    DeLong's test (as pROC roc.test; vertebrae taken as independent, as the paper) and, beside
    it, a paired cluster-bootstrap p (patients resampled); each p also Holm-adjusted over the
    family of every test in the table that could run (3 classes x splits present)."""
    from vfrepro.stats import adjust_p, delong_test

    cols = ["split", "class", "auc_radimagenet", "auc_imagenet", "z", "p", "p_holm", "diff_ci_low",
            "diff_ci_high", "p_boot", "p_boot_holm", "n", "n_patients", "note"]
    rows = []
    if set(BACKBONES) <= set(preds):
        j = _paired(preds)
        for s in SPLITS:
            d = j[j["split_a"] == s]
            g = d["patient_a"].astype(str).to_numpy()
            size = {"n": len(d), "n_patients": int(len(set(g)))}
            for k in NAMES:
                yk = (d["truth_a"] == k).to_numpy().astype(int)
                if len(d) == 0 or yk.sum() in (0, len(yk)):
                    rows.append({"split": s, "class": k, "auc_radimagenet": np.nan, "auc_imagenet": np.nan,
                                 "z": np.nan, "p": np.nan, **size, "note": "class absent or alone in split"})
                    continue
                sa, sb = d[f"prob_{k}_a"].to_numpy(), d[f"prob_{k}_b"].to_numpy()
                r = delong_test(yk, sa, sb)
                b = paired_auc_diff(yk, sa, sb, groups=g, n_boot=n_boot, seed=seed)
                rows.append({"split": s, "class": k, "auc_radimagenet": r["auc_a"], "auc_imagenet": r["auc_b"],
                             "z": r["z"], "p": r["p"], "diff_ci_low": b["ci_low"], "diff_ci_high": b["ci_high"],
                             "p_boot": b["p"], **size, "note": b["note"]})
    t = pd.DataFrame(rows, columns=cols)
    if len(t):
        t["p_holm"] = adjust_p(t["p"].to_numpy(float), P_ADJUST)
        t["p_boot_holm"] = adjust_p(t["p_boot"].to_numpy(float), P_ADJUST)
    return t


def macro_comparison(preds: dict[str, pd.DataFrame], n_boot: int, seed: int) -> pd.DataFrame:
    """The paper's headline claim per split: macro one-vs-rest AUC RadImageNet vs ImageNet, a
    paired patient-level bootstrap of the difference (CI, p) on the vertebrae both scored, and
    p Holm-adjusted over the splits compared."""
    from vfrepro.stats import adjust_p

    cols = ["split", "macro_auc_radimagenet", "macro_auc_imagenet", "diff", "ci_low", "ci_high", "p", "p_holm",
            "n", "n_patients", "n_boot", "method", "note"]
    rows = []
    if set(BACKBONES) <= set(preds):
        j = _paired(preds)
        for s in SPLITS:
            d = j[j["split_a"] == s]
            if d.empty:
                continue
            present = sorted(set(d["truth_a"].astype(str)))
            if len(present) < len(NAMES):
                rows.append({"split": s, "n": len(d), "n_patients": int(d["patient_a"].nunique()),
                             "note": f"class(es) {sorted(set(NAMES) - set(present))} absent: macro AUC undefined"})
                continue
            r = paired_macro_auc(d["truth_a"].astype(str).to_numpy(), d[[f"prob_{k}_a" for k in NAMES]].to_numpy(),
                                 d[[f"prob_{k}_b" for k in NAMES]].to_numpy(), NAMES,
                                 groups=d["patient_a"].astype(str).to_numpy(), n_boot=n_boot, seed=seed)
            rows.append({"split": s, "macro_auc_radimagenet": r["macro_auc_a"], "macro_auc_imagenet": r["macro_auc_b"],
                         "diff": r["diff"], "ci_low": r["ci_low"], "ci_high": r["ci_high"], "p": r["p"],
                         "n": r["n"], "n_patients": r["n_groups"], "n_boot": r["n_boot"], "method": r["method"],
                         "note": r["note"]})
    t = pd.DataFrame(rows, columns=cols)
    if len(t):
        t["p_holm"] = adjust_p(t["p"].to_numpy(float), P_ADJUST)
    return t


def roc_panels(pred: pd.DataFrame) -> list[RocPanel]:
    """One panel per split, one-vs-rest curve per class."""
    from vfrepro.stats import auc
    panels = []
    for s in SPLITS:
        d = pred[pred["split"] == s]
        panel = RocPanel(f"{SPLIT_NAMES[s]} (n={len(d)})")
        for k in NAMES:
            y = (d["truth"] == k).to_numpy().astype(int)
            if 0 < y.sum() < len(y):
                sc = d[f"prob_{k}"].to_numpy()
                panel.curves.append(Curve(f"class {k} (AUC {auc(y, sc):.2f})", y, sc))
        panels.append(panel)
    return panels


def roc_title(pred: pd.DataFrame, backbone: str) -> str:
    return (f"{STUDY}: {BACKBONE_NAMES[backbone]} fused model ({pred['model'].iloc[0]}), one-vs-rest ROC, "
            "95% bootstrap bands")


# ----------------------------------------------------------------------------- Table 3
def _f3(x) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "n/a"
    return f"{x:.3f}" if np.isfinite(x) else "n/a"


def _cell(acc, auc, lo, hi) -> str:
    ci = f" ({_f3(lo)}-{_f3(hi)})" if lo is not None and hi is not None and np.isfinite(lo) else ""
    return f"{_f3(acc)} / {_f3(auc)}{ci}"


def _reproduced(metrics: pd.DataFrame) -> pd.DataFrame:
    """Table 3's numbers in long form: row '<backbone> macro' / '<backbone> class k', column split."""
    m = metrics.copy()
    m["class"] = m["class"].astype(str)
    keep = ((m["class"] != "overall") & m["metric"].isin(["accuracy", "auc"])) | (
        (m["class"] == "overall") & m["metric"].isin(["accuracy", "macro_auc"]))
    m = m[keep]
    return pd.DataFrame({"backbone": m["backbone"], "model": m["model"],
                         "row": [f"{b} macro" if c == "overall" else f"{b} class {c}" for b, c in zip(m["backbone"], m["class"])],
                         "column": m["split"], "quantity": m["metric"], "value": m["value"],
                         "ci_low": m["ci_low"], "ci_high": m["ci_high"]})


FEATURE_QUANTITIES = {"n_radiomics": "n_radiomics", "n_dtl": "n_dtl", "lasso_lambda": "lambda"}


def feature_counts(fusion: dict[str, dict]) -> pd.DataFrame:
    """The fusion LASSO's kept radiomics and DTL features and its lambda per backbone (from the
    fuse stage's fusion.json), in the published records' long form (row backbone, no column)."""
    rows = []
    for bb in BACKBONES:
        s = fusion.get(bb)
        if s is None:
            continue
        vals = {"n_radiomics": s["n_radiomics"], "n_dtl": s["n_dtl"], "lasso_lambda": s["lasso"]["lambda"]}
        rows += [{"row": bb, "column": "", "quantity": q, "value": v, "pca_components": s.get("pca_components"),
                  "rule": s["lasso"].get("rule", "")} for q, v in vals.items()]
    # object: a count stays an int beside the float lambda
    return pd.DataFrame(rows, columns=["row", "column", "quantity", "value", "pca_components", "rule"], dtype=object)


def _features_block(fusion: dict[str, dict], P) -> list[str]:
    fc = feature_counts(fusion).set_index(["row", "quantity"])
    rows = []
    for bb in BACKBONES:
        def rep(q, fmt=str):
            return fmt(fc.at[(bb, q), "value"]) if (bb, q) in fc.index else "n/a"

        def pub_(q):
            r = P.get(bb, "", q)
            return "not published" if r is None else str(r["value"])
        pcs = fc.at[(bb, "n_dtl"), "pca_components"] if (bb, "n_dtl") in fc.index else "n/a"
        rows.append({"b": BACKBONE_NAMES[bb], "rr": rep("n_radiomics"), "rp": pub_("n_radiomics"),
                     "dr": rep("n_dtl"), "dp": pub_("n_dtl"), "pc": pcs,
                     "lr": rep("lasso_lambda", lambda v: f"{float(v):.4g}"), "lp": pub_("lasso_lambda")})
    head = ["Backbone", "radiomics (reproduced)", "radiomics (published)", "DTL (reproduced)", "DTL (published)",
            "DTL PCA components (reproduced)", "lambda (reproduced)", "lambda (published)"]
    return ["## Features kept by the fusion LASSO", "",
            pub.markdown(pd.DataFrame(rows), ["b", "rr", "rp", "dr", "dp", "pc", "lr", "lp"], head), "",
            "Reproduced: the fuse stage's fusion.json (DTL features are principal components of the 2048 "
            "pooled features, so a DTL count cannot exceed the PCA size). Published: the paper's Results "
            "(feature selection).", ""]


def _argmax_check(P) -> list[str]:
    """The published per-class errors against twice the published overall error, per backbone and split."""
    rows = []
    for bb in BACKBONES:
        for s in SPLITS:
            acc = [P.value(f"{bb} class {k}", s, "accuracy") for k in NAMES]
            tot = P.value(f"{bb} macro", s, "accuracy")
            if np.all(np.isfinite(acc)) and np.isfinite(tot):
                rows.append({"b": BACKBONE_NAMES[bb], "s": SPLIT_NAMES[s], "e": f"{sum(1 - a for a in acc):.3f}",
                             "t": f"{2 * (1 - tot):.3f}"})
    if not rows:
        return []
    return [pub.markdown(pd.DataFrame(rows), ["b", "s", "e", "t"],
                         ["Backbone", "Split", "published sum of per-class errors (1 - accuracy)",
                          "2 x (1 - published overall accuracy)"]), ""]


def _youden_block(thresholds: pd.DataFrame) -> list[str]:
    y = thresholds[thresholds["method"] == "youden_oof"]
    if y.empty:
        return []
    rows = []
    for (bb, k), d in y.groupby(["backbone", "class"], sort=False):
        row = {"b": BACKBONE_NAMES.get(bb, bb), "k": f"class {k}", "t": _f3(d["threshold"].iloc[0])}
        for s in SPLITS:
            r = d[d["split"] == s]
            row[s] = ("n/a" if r.empty else
                      f"{_f3(r['accuracy'].iloc[0])} / {_f3(r['sensitivity'].iloc[0])} / {_f3(r['specificity'].iloc[0])}")
        rows.append(row)
    head = ["Backbone", "Class", "threshold"] + [f"{SPLIT_NAMES[s]} acc / sens / spec" for s in SPLITS]
    return ["## Per-class metrics at the Youden threshold fitted on out-of-fold training scores", "",
            pub.markdown(pd.DataFrame(rows), ["b", "k", "t", *SPLITS], head), "",
            "Each class's one-vs-rest probability is cut at the threshold maximising Youden's J on the "
            "classification stage's out-of-fold training scores (training rows only), then applied unchanged to "
            "every split (per_class_thresholds.csv holds these and the argmax ones).", ""]


def table3(metrics: pd.DataFrame, provenance: dict, thresholds: pd.DataFrame | None = None,
           fusion: dict[str, dict] | None = None, chosen: pd.DataFrame | None = None) -> tuple[pd.DataFrame, str, str]:
    """Rows backbone x (class 0, 1, 2, macro); columns splits; reproduced beside published.
    ``thresholds``: :func:`.thresholds.per_class` (the Youden accuracy column); ``fusion``:
    backbone -> the fuse stage's summary (feature counts); ``chosen``: the deviations
    (:func:`vfrepro.evaluate.chosen.table`). Gives (table, Markdown, LaTeX)."""
    P = pub.load(STUDY)
    long = pub.beside(_reproduced(metrics), P).set_index(["row", "column", "quantity"])
    yd = (thresholds[thresholds["method"] == "youden_oof"].assign(**{"class": lambda d: d["class"].astype(str)})
          .set_index(["backbone", "split", "class"]) if thresholds is not None else None)
    rows = []
    for bb in BACKBONES:
        mb = metrics[metrics["backbone"] == bb]
        if mb.empty:
            continue
        for cls in ("0", "1", "2", "macro"):
            name = f"{bb} macro" if cls == "macro" else f"{bb} class {cls}"
            auc_q = "macro_auc" if cls == "macro" else "auc"
            row = {"backbone": BACKBONE_NAMES[bb], "model": mb["model"].iloc[0],
                   "class": cls if cls == "macro" else f"class {cls}"}
            for s in SPLITS:
                if (name, s, "accuracy") in long.index:
                    a, u = long.loc[(name, s, "accuracy")], long.loc[(name, s, auc_q)]
                    row[f"{s}_reproduced"] = _cell(a["value"], u["value"], u["ci_low"], u["ci_high"])
                else:
                    row[f"{s}_reproduced"] = "n/a"
                if cls == "macro":
                    row[f"{s}_reproduced_youden"] = ""
                elif yd is not None and (bb, s, cls) in yd.index:
                    row[f"{s}_reproduced_youden"] = _f3(yd.loc[(bb, s, cls), "accuracy"])
                else:
                    row[f"{s}_reproduced_youden"] = "n/a"
                pa, pu = P.get(name, s, "accuracy"), P.get(name, s, auc_q)
                row[f"{s}_published"] = (_cell(pa["value"], pu["value"], pu["ci_low"], pu["ci_high"])
                                         if pa and pu else "not published")
            rows.append(row)
    t = pd.DataFrame(rows)
    parts = (("reproduced", "reproduced, argmax"), ("reproduced_youden", "reproduced, Youden acc"),
             ("published", "published"))
    cols = ["backbone", "model", "class"] + [f"{s}_{w}" for s in SPLITS for w, _ in parts]
    head = ["Backbone", "Model", "Class"] + [f"{SPLIT_NAMES[s]} ({h})" for s in SPLITS for _, h in parts]
    winners = {bb: P.value(bb, "", "best_model", "?") for bb in BACKBONES}
    md = ["# liu2025_dlr Table 3: accuracy / AUC (95% CI), one-vs-rest per class and macro average", "",
          pub.markdown(t, cols, head), "",
          "Cells: accuracy / AUC (95% CI). \"argmax\": the class of the largest probability (per-class accuracy "
          "of class k vs the rest); \"Youden acc\": per-class accuracy at the Youden threshold fitted on "
          "out-of-fold training scores. Macro rows: overall (top-1) accuracy / macro-average one-vs-rest AUC.", "",
          "The paper's per-class accuracies cannot be argmax ones: under argmax each misclassified vertebra is a "
          "false negative of its true class and a false positive of its predicted class, so the per-class errors "
          "sum to twice the overall error, which the published numbers do not:", "",
          *_argmax_check(P),
          f"Published: {P.source}. Published winners: RadImageNet {winners['radimagenet']}, "
          f"ImageNet {winners['imagenet']}.", ""]
    if thresholds is not None:
        md += _youden_block(thresholds)
    if fusion:
        md += _features_block(fusion, P)
    if chosen is not None and len(chosen):
        from vfrepro.evaluate.chosen import markdown as chosen_markdown
        md += [chosen_markdown(chosen)]
    md += ["## Provenance", "\n".join(f"- {k}: {v}" for k, v in provenance.items()), ""]
    tex = pub.latex(t, cols, head, r"liu2025\_dlr Table 3 reproduced (R; argmax, and accuracy at the Youden "
                    r"threshold fitted on out-of-fold training scores) beside published (P): accuracy / AUC "
                    r"(95\% CI).", "lll" + "l" * (len(parts) * len(SPLITS)))
    tex += ["% provenance:"] + [f"% {k}: {v}" for k, v in provenance.items()]
    return t, "\n".join(md), "\n".join(tex) + "\n"


def provenance(seed: int, deep_meta: list[str], cohort_source: str) -> dict:
    """What Table 3's numbers came from (seed, weights, software, cohort), printed under the table."""
    import radiomics
    import sklearn
    import torch
    from importlib.metadata import version

    weights = {}
    for f in deep_meta:
        m = json.loads(Path(f).read_text())
        weights[m["config"]["backbone"]] = m["init"] + f"; fine-tune epochs {m['config']['finetune_epochs']}; {m['device']}"
    out = {"seed": seed,
           "weights": "; ".join(f"{BACKBONE_NAMES[k]}: {v}" for k, v in sorted(weights.items())),
           "versions": f"vfrepro {version('vfrepro')}, python {platform.python_version()}, pyradiomics "
                       f"{radiomics.__version__}, torch {torch.__version__}, scikit-learn {sklearn.__version__}",
           "cohort": cohort_source}
    if cohort_source == "synthetic":
        out["note"] = "synthetic cohort: numbers test the pipeline, not the paper's claim"
    return out
