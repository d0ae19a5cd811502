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
from vfrepro.evaluate.metrics import one_vs_rest
from vfrepro.evaluate.schema import class_index, prob_columns

from .cohort import BACKBONE_NAMES, BACKBONES, CLASSES, SPLIT_NAMES, SPLITS, STUDY

NAMES = [str(k) for k in CLASSES]
PER_CLASS = ("auc", "accuracy", "sensitivity", "specificity")
OVERALL = ("accuracy", "macro_auc", "micro_auc")


def metrics(preds: dict[str, pd.DataFrame], n_boot: int, seed: int) -> pd.DataFrame:
    """One row per (backbone, split, class | overall, metric) with value and 95% CI."""
    rows = []
    for bb, pr in preds.items():
        for s in SPLITS:
            d = pr[pr["split"] == s]
            if d.empty:
                continue
            res = one_vs_rest(class_index(d["truth"], NAMES), d[prob_columns(NAMES)].to_numpy(), list(CLASSES),
                              ci="bootstrap", n_boot=n_boot, seed=seed)
            base = {"backbone": bb, "model": d["model"].iloc[0], "split": s}
            tail = {"n": len(d), "note": res["note"]}
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


def delong(preds: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """DeLong RadImageNet vs ImageNet per split and class (one-vs-rest), on the vertebrae both scored."""
    from vfrepro.stats import delong_test

    cols = ["split", "class", "auc_radimagenet", "auc_imagenet", "z", "p", "note"]
    rows = []
    if set(BACKBONES) <= set(preds):
        j = preds["radimagenet"].merge(preds["imagenet"], on=["case_id", "mask_label"], suffixes=("_a", "_b"))
        for s in SPLITS:
            d = j[j["split_a"] == s]
            for k in NAMES:
                yk = (d["truth_a"] == k).to_numpy().astype(int)
                if len(d) == 0 or yk.sum() in (0, len(yk)):
                    rows.append({"split": s, "class": k, "auc_radimagenet": np.nan, "auc_imagenet": np.nan,
                                 "z": np.nan, "p": np.nan, "note": "class absent or alone in split"})
                    continue
                r = delong_test(yk, d[f"prob_{k}_a"].to_numpy(), d[f"prob_{k}_b"].to_numpy())
                rows.append({"split": s, "class": k, "auc_radimagenet": r["auc_a"], "auc_imagenet": r["auc_b"],
                             "z": r["z"], "p": r["p"], "note": ""})
    return pd.DataFrame(rows, columns=cols)


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
def _cell(acc, auc, lo, hi) -> str:
    def f(x):
        return "n/a" if x is None or not np.isfinite(x) else f"{x:.3f}"
    ci = f" ({f(lo)}-{f(hi)})" if lo is not None and hi is not None and np.isfinite(lo) else ""
    return f"{f(acc)} / {f(auc)}{ci}"


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


def table3(metrics: pd.DataFrame, provenance: dict) -> tuple[pd.DataFrame, str, str]:
    """Rows backbone x (class 0, 1, 2, macro); columns splits; reproduced beside published.
    Gives (table, Markdown, LaTeX)."""
    P = pub.load(STUDY)
    long = pub.beside(_reproduced(metrics), P).set_index(["row", "column", "quantity"])
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
                pa, pu = P.get(name, s, "accuracy"), P.get(name, s, auc_q)
                row[f"{s}_published"] = (_cell(pa["value"], pu["value"], pu["ci_low"], pu["ci_high"])
                                         if pa and pu else "not published")
            rows.append(row)
    t = pd.DataFrame(rows)
    cols = ["backbone", "model", "class"] + [f"{s}_{w}" for s in SPLITS for w in ("reproduced", "published")]
    head = ["Backbone", "Model", "Class"] + [f"{SPLIT_NAMES[s]} ({w})" for s in SPLITS for w in ("reproduced", "published")]
    winners = {bb: P.value(bb, "", "best_model", "?") for bb in BACKBONES}
    md = ["# liu2025_dlr Table 3: accuracy / AUC (95% CI), one-vs-rest per class and macro average", "",
          pub.markdown(t, cols, head), "",
          f"Published: {P.source}. Published winners: RadImageNet {winners['radimagenet']}, "
          f"ImageNet {winners['imagenet']}.", "", "## Provenance",
          "\n".join(f"- {k}: {v}" for k, v in provenance.items()), ""]
    tex = pub.latex(t, cols, head, r"liu2025\_dlr Table 3 reproduced (R) beside published (P): accuracy / AUC "
                    r"(95\% CI).", "lll" + "l" * (2 * len(SPLITS)))
    tex += ["% provenance:"] + [f"% {k}: {v}" for k, v in provenance.items()]
    return t, "\n".join(md), "\n".join(tex) + "\n"


def provenance(seed: int, deep_meta: list[str]) -> dict:
    """What Table 3's numbers came from (seed, weights, software), printed under the table."""
    import radiomics
    import sklearn
    import torch
    from importlib.metadata import version

    weights = {}
    for f in deep_meta:
        m = json.loads(Path(f).read_text())
        weights[m["config"]["backbone"]] = m["init"] + f"; fine-tune epochs {m['config']['finetune_epochs']}; {m['device']}"
    return {"seed": seed,
            "weights": "; ".join(f"{BACKBONE_NAMES[k]}: {v}" for k, v in sorted(weights.items())),
            "versions": f"vfrepro {version('vfrepro')}, python {platform.python_version()}, pyradiomics "
                        f"{radiomics.__version__}, torch {torch.__version__}, scikit-learn {sklearn.__version__}",
            "note": "synthetic cohort: numbers test the pipeline, not the paper's claim"}
