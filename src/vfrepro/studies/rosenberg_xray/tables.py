"""rosenberg_xray evaluation: per-architecture binary metrics, the DeLong test ResNet18 vs
VGG16, the Figure 4 table (published beside reproduced) and the figures' panels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import InputError
from ...evaluate import metrics as M
from ...evaluate import published as pub
from ...evaluate.figures import ConfusionPanel, Curve, RocPanel
from ...evaluate.schema import patients
from .study import CLASS_NAMES, STUDY

COUNTS = ("TN", "FP", "FN", "TP")
HEADLINE = ("accuracy", "sensitivity", "specificity", "auc")




def binary_metrics(pred: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> dict:
    """Confusion counts, accuracy/sensitivity/specificity and AUC with a 95% CI: the cluster
    bootstrap over patients when a patient gives several crops, else DeLong
    (``auc_ci_method`` says which)."""
    return M.binary((pred["truth"].astype(str) == "1").to_numpy(), pred["prob_1"].to_numpy(float),
                    (pred["pred"].astype(str) == "1").to_numpy(), groups=patients(pred),
                    n_boot=n_boot, seed=seed)


def figure4_inconsistencies() -> list[str]:
    """Every place where the published Figure 4 matrices disagree with the printed rates or
    with each other, recomputed from the published counts."""
    P = pub.load(STUDY)
    out, totals = [], {}
    for arch in dict.fromkeys(P.records["row"]):
        c = {q: P.value(arch, "test", q) for q in COUNTS}
        neg, pos = c["TN"] + c["FP"], c["TP"] + c["FN"]
        totals[arch] = (neg, pos)
        for q, num, den in (("sensitivity", c["TP"], pos), ("specificity", c["TN"], neg),
                            ("accuracy", c["TP"] + c["TN"], neg + pos)):
            printed = P.value(arch, "test", q, None)
            if printed is not None and round(num / den, 2) != round(printed, 2):
                out.append(f"{arch} {q} printed {printed:.0%} but its matrix gives {num}/{den} = {num / den:.1%}")
    if len(set(totals.values())) > 1:
        out.append("the matrices imply different class totals on one test set: " + "; ".join(
            f"{a} {n} no fracture + {p} fracture" for a, (n, p) in totals.items()))
    return out


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


def delong(preds: dict[str, pd.DataFrame], n_boot: int = 1000, seed: int = 0) -> dict:
    """DeLong test ResNet18 vs VGG16 on the same test vertebrae (crops independent), and beside
    it the paired cluster bootstrap of the AUC difference (patients resampled)."""
    from ...stats.roc import delong_test
    if not {"resnet18", "vgg16"} <= set(preds):
        return {"note": "needs exactly resnet18 and vgg16 predictions on the same cases"}
    a, b = preds["resnet18"], preds["vgg16"]
    j = a.merge(b, on=["case_id", "level"], suffixes=("_a", "_b"))
    if len(j) != len(a) or len(j) != len(b):
        raise InputError("resnet18 and vgg16 predictions are not on the same test cases", field="case_id")
    y = (j["truth_a"] == "1").to_numpy().astype(int)
    pa = j[["prob_0_a", "prob_1_a"]].to_numpy(float)
    pb = j[["prob_0_b", "prob_1_b"]].to_numpy(float)
    # two-class macro AUC = the fracture AUC (both one-vs-rest AUCs are equal)
    boot = M.paired_macro_auc(j["truth_a"].astype(str).to_numpy(), pa, pb, ["0", "1"],
                              groups=patients(j.rename(columns={"patient_a": "patient"})), n_boot=n_boot,
                              seed=seed)
    return {"model_a": "resnet18", "model_b": "vgg16", "n": len(j), "method": "DeLong (crops independent)",
            **delong_test(y, j["prob_1_a"].to_numpy(float), j["prob_1_b"].to_numpy(float)),
            "paired_bootstrap": {k: (float(v) if isinstance(v, (float, np.floating, int, np.integer)) else v)
                                 for k, v in boot.items()}}


def evaluate(preds: dict[str, pd.DataFrame], inits: dict[str, str] | None = None, n_boot: int = 1000,
             seed: int = 0) -> dict:
    """From each architecture's (validated) predictions: ``metrics`` (dict per arch),
    ``metrics_table``, ``figure4``, ``delong``, ``roc`` and ``confusion`` panels."""
    inits = inits or {}
    metrics = {a: binary_metrics(p, n_boot, seed) for a, p in preds.items()}
    table = pd.DataFrame([{"model": a, "init": inits.get(a, ""), **v} for a, v in metrics.items()])
    P = pub.load(STUDY)
    fig4 = figure4_table(metrics)
    fig4["note"] = ""
    fig4.loc[0, "note"] = P.note + "; reproduced: " + "; ".join(f"{a} init {inits.get(a, '?')}" for a in metrics)
    for i, msg in enumerate(figure4_inconsistencies(), start=1):
        if i < len(fig4):
            fig4.loc[i, "note"] = "published Figure 4: " + msg
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
    return {"metrics": metrics, "metrics_table": table, "figure4": fig4, "delong": delong(preds, n_boot, seed),
            "roc": [roc], "confusion": confusion}


# the tables the reproduction verdict reads (results/rosenberg_xray/...)
REPRODUCTION_INPUTS = ("metrics.csv",)


def reproduced_long(results) -> pd.DataFrame:
    """This study's reproduced numbers in the verdict's long form (vfrepro.evaluate.verdict):
    from ``metrics.csv``, one row per (architecture, test, quantity); the AUC with its DeLong
    CI, the proportions with their denominators (accuracy n, sensitivity TP+FN, specificity TN+FP)."""
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
                     "ci_high": r["auc_ci_high"], "ci_method": r.get("auc_ci_method", "DeLong")})
    # CAM on the planted lesion (cam stage, where it ran): a different criterion from the
    # surgeons' judgement, so the verdict is "not evaluable" with the value beside it
    for f in sorted(Path(results).glob("cam_*_lesion_summary.csv")):
        s = pd.read_csv(f)
        s = s[s["subset"] == "fractured"]
        for r in s.to_dict("records"):
            if not r["n"]:
                rows.append({"row": str(r["model"]), "column": "test", "quantity": "cam_on_fracture_zone",
                             "value": np.nan, "reason": str(r["reading"])})
                continue
            rows.append({"row": str(r["model"]), "column": "test", "quantity": "cam_on_fracture_zone",
                         "value": r["peak_hit_fraction"], "n": r["n"],
                         "reason": f"CAM peak on the planted lesion in {r['peak_hit_fraction']:.0%} of n={r['n']} "
                                   f"fractured test crops (chance {r['chance_lesion_area_share']:.0%}; top-k "
                                   f"{r['topk_hit_fraction']:.0%}); the paper's 81% is surgeons' judgement "
                                   "against CT/MRI, not the same criterion"})
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
                                 infos=[str(infos[a]) for a in archs] if infos else None, out=str(out),
                                 n_boot=int(cfg.get("n_boot", 1000)), seed=int(cfg.get("seed", 0))))
    return ["metrics.csv", "figure4_table.csv", "delong.json", "confusion_matrices.png", "roc.png",
            "chosen.csv", "tables.md"]


def distribution(table: pd.DataFrame, pred: pd.DataFrame) -> pd.DataFrame:
    """The paper's Figs 2-3 on this cohort: fractured vertebrae by level and by AO type, in the
    test set (the rows of ``pred``) and in every passed case of the manifest ``table``.
    Columns: by (level | ao_type), value, test, test_pct, all, all_pct."""
    from ...cohort import labels as L
    for col in ("level", "fracture"):
        if col not in table.columns:
            raise InputError(f"Figs 2-3 need manifest column {col!r}", field=col)
    fx = table[table["fracture"].astype(float) == 1]
    test = pred[["case_id", "level"]].merge(fx, on=["case_id", "level"], how="inner")
    out = []
    for by, order in (("level", list(L.LEVEL_CODES)), ("ao_type", list(L.AO_TYPES))):
        if by not in fx.columns:
            continue
        a, t = fx[by].astype(str).value_counts(), test[by].astype(str).value_counts()
        vals = [v for v in order if v in a.index] + sorted(set(a.index) - set(order))
        for v in vals:
            out.append({"by": by, "value": v, "test": int(t.get(v, 0)),
                        "test_pct": round(100 * t.get(v, 0) / max(len(test), 1), 1),
                        "all": int(a.get(v, 0)), "all_pct": round(100 * a.get(v, 0) / max(len(fx), 1), 1)})
    return pd.DataFrame(out, columns=["by", "value", "test", "test_pct", "all", "all_pct"])


def t12_l2_share(dist: pd.DataFrame) -> dict:
    """Share of fractures at T12-L2 (the paper: 48%), test set and all."""
    lv = dist[dist["by"] == "level"].set_index("value")
    pick = [v for v in ("T12", "L1", "L2") if v in lv.index]
    return {k: (float(lv.loc[pick, k].sum() / lv[k].sum()) if lv[k].sum() else float("nan"))
            for k in ("test", "all")}


def distribution_figure(dist: pd.DataFrame, path) -> None:
    """Figs 2-3: bars of fractured vertebrae by level and by AO type (test set and all cases)."""
    from ...evaluate.figures import pyplot, save
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, (by, title) in zip(axes, (("level", "Fig. 2: fractures by level"),
                                      ("ao_type", "Fig. 3: fractures by AO type"))):
        d = dist[dist["by"] == by]
        x = np.arange(len(d))
        ax.bar(x - 0.2, d["all"], 0.4, label="all passed cases")
        ax.bar(x + 0.2, d["test"], 0.4, label="test set")
        ax.set_xticks(x, d["value"], rotation=45 if by == "level" else 0, fontsize=8)
        ax.set_ylabel("fractured vertebrae")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    save(fig, path, 110)


def markdown(res: dict, chosen: pd.DataFrame, dist: pd.DataFrame | None = None,
             synthetic: bool = False) -> str:
    """tables.md: metrics with the CI method, the Figure 4 notes, Figs 2-3 and the CHOSEN block."""
    from ...evaluate.chosen import markdown as chosen_md
    lines = [f"# {STUDY}: test set", ""]
    if synthetic:
        lines += ["*Synthetic cohort (config cohort.source: synthetic): the numbers measure this pipeline "
                  "on generated radiographs, not the paper's patients.*", ""]
    t = res["metrics_table"]
    cols = [c for c in ("model", "init", "n", "TN", "FP", "FN", "TP", "accuracy", "sensitivity", "specificity",
                        "auc", "auc_ci_low", "auc_ci_high", "auc_ci_method") if c in t.columns]
    lines += ["## Metrics", "", t[cols].to_markdown(index=False, floatfmt=".3f"), ""]
    methods = sorted(set(t.get("auc_ci_method", pd.Series(["DeLong"])).astype(str)))
    lines += [f"AUC 95% CI: {', '.join(methods)} (patients resampled with all their crops where a patient "
              "gives several; DeLong only when every patient gives one crop).", ""]
    d = res["delong"]
    if "p" in d:
        b = d.get("paired_bootstrap", {})
        lines += [f"ResNet18 vs VGG16: DeLong p = {d['p']:.3g} (crops independent); {b.get('method', '')}: "
                  f"difference {b.get('diff', float('nan')):.3f} ({b.get('ci_low', float('nan')):.3f} to "
                  f"{b.get('ci_high', float('nan')):.3f}), p = {b.get('p', float('nan')):.3g}.", ""]
    lines += ["## Figure 4: notes on the published matrices", ""]
    lines += [f"- {m}" for m in figure4_inconsistencies()] + [""]
    if dist is not None and len(dist):
        share = t12_l2_share(dist)
        lines += ["## Figs 2-3: fractured vertebrae by level and AO type", "",
                  dist.to_markdown(index=False), "",
                  f"T12-L2 share of fractures: test {share['test']:.0%}, all {share['all']:.0%} (paper: 48%).", ""]
    lines += [chosen_md(chosen)]
    return "\n".join(lines)
