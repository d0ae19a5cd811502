"""xu2023_vcf: acute / chronic / pathologic VCF on lateral radiograph crops (ResNet-18, multi-site).

Xu et al., Front. Endocrinol. 2023;14:1025749 (seed 002). Development cohort split 8:2 by
patient (the manifest's train / internal split, or a seeded patient-level redraw), each
external site and the prospective set evaluated apart. Outputs: Table 2 layout per dataset
(overall + per class: AUC with 95% CI, accuracy, sensitivity, specificity, precision, F1,
PPV, NPV) published beside reproduced; ROC curves and normalised confusion matrices per
dataset; the optional reader study (Table 3 layout + McNemar per reader, alone vs with model).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..deep.data import CropSpec, check_columns, crop_spec_from_config, patient_split
from ..errors import InputError

CLASSES = ["acute", "chronic", "pathologic"]
LABEL_COL = "vcf_type"
COLUMNS = ("case_id", "xray_lateral_path", "lat_x0", "lat_y0", "lat_x1", "lat_y1", "vcf_type", "site", "split")
TABLE_METRICS = ("auc", "accuracy", "sensitivity", "specificity", "precision", "f1", "ppv", "npv")

# Table 2 of Xu et al. 2023 (accuracy ... NPV in %, AUC as a fraction); AUC 95% CIs from the
# Results text. Row "overall" is the paper's dataset row (no AUC printed; its accuracy is the
# mean of the three one-vs-rest accuracies).
_T2 = """dataset,class,auc,accuracy,sensitivity,specificity,precision,f1,ppv,npv,auc_ci
Testing,overall,,85.0,77.5,88.7,77.4,77.4,77.5,88.7,
Testing,acute,0.874,79.9,78.1,81.6,80.5,79.3,80.5,79.3,0.873-0.875
Testing,chronic,0.899,82.4,81.5,83.0,77.9,79.7,77.9,86.0,0.898-0.900
Testing,pathologic,0.935,92.6,52.9,96.3,56.3,54.5,56.3,95.7,0.935-0.937
GZFPH,overall,,83.2,74.8,87.4,75.7,75.2,74.8,87.4,
GZFPH,acute,0.803,75.7,75.8,75.5,79.7,77.7,79.7,71.2,0.801-0.806
GZFPH,chronic,0.906,86.5,82.5,88.7,80.5,81.5,80.5,90.0,0.905-0.909
GZFPH,pathologic,0.769,87.4,33.3,92.2,27.3,30.0,27.3,94.0,0.771-0.780
WHTH,overall,,75.7,63.6,81.8,66.8,65.2,63.6,81.8,
WHTH,acute,0.779,64.5,47.8,82.7,75.0,58.4,75.0,59.3,0.777-0.781
WHTH,chronic,0.798,67.7,83.2,55.7,59.4,69.3,59.4,81.0,0.796-0.800
WHTH,pathologic,0.903,94.9,55.6,96.6,41.7,47.6,41.7,98.0,0.900-0.907
HB672H,overall,,79.2,68.8,84.4,68.6,68.7,68.9,84.4,
HB672H,acute,0.807,73.9,75.5,72.0,75.5,75.5,75.5,72.0,0.805-0.809
HB672H,chronic,0.836,76.1,70.2,79.0,61.5,65.6,61.5,84.7,0.834-0.838
HB672H,pathologic,0.796,87.5,40.0,95.4,58.8,47.6,58.8,90.6,0.793-0.800
Prospective,overall,,82.9,74.3,87.2,76.9,75.6,74.3,87.2,
Prospective,acute,0.833,77.0,65.8,88.9,86.2,74.6,86.2,71.1,
Prospective,chronic,0.857,79.7,87.1,74.4,71.1,78.3,71.1,88.9,
Prospective,pathologic,0.757,91.9,60.0,94.2,42.9,50.0,42.9,97.0,
"""
PUBLISHED_SOURCE = "Xu et al. 2023, Front Endocrinol 14:1025749, Table 2 and Results (AUC CIs)"
# The paper's external sites in its order (sites 2, 3, 4); the cohort's external sites are
# matched to them in sorted order, and the mapping is written into the table.
PUBLISHED_EXTERNAL = ["GZFPH", "WHTH", "HB672H"]

# Table 3 (collaboration dataset): overall accuracy (%) per reader alone / with the model.
PUBLISHED_READERS = {"model": 76.4, "trainee": 70.7, "competent": 76.9, "expert": 78.2,
                     "trainee_with_model": 77.8, "competent_with_model": 81.6,
                     "expert_with_model": 85.3}
READER_SUFFIXES = ("_alone", "_with_model")


def published_table2() -> pd.DataFrame:
    from io import StringIO
    return pd.read_csv(StringIO(_T2), dtype={"auc_ci": str})


def crop_spec(cfg: dict) -> CropSpec:
    return crop_spec_from_config(cfg, rotation_deg=15, hflip=True, vflip=True, shift=0.0)


def prepare(table: pd.DataFrame, cfg: dict):
    """Development rows split 8:2 by patient; evaluation rows labelled by dataset:
    'test', 'external <site>' per external site, 'prospective'."""
    check_columns(table, COLUMNS, "xu2023_vcf")
    t = table[table["vcf_type"].isin(CLASSES)].copy()
    if t.empty:
        raise InputError("xu2023_vcf: no fractured vertebrae (vcf_type acute/chronic/pathologic)",
                         field="vcf_type")
    dev = t[t["split"].isin(["train", "internal"])].copy()
    if cfg.get("dev_split", "manifest") == "random":
        is_test = patient_split(dev["case_id"].to_numpy(), float(cfg.get("test_fraction", 0.2)),
                                int(cfg.get("seed", 0)))
    else:
        is_test = (dev["split"] == "internal").to_numpy()
    tr = dev[~is_test].reset_index(drop=True)
    test = dev[is_test].assign(dataset="test")
    ext = t[t["split"] == "external"].copy()
    ext["dataset"] = "external " + ext["site"].astype(str)
    pro = t[t["split"] == "prospective"].assign(dataset="prospective")
    ev = pd.concat([test, ext, pro], ignore_index=True)
    if tr.empty or ev.empty:
        raise InputError(f"xu2023_vcf: {len(tr)} training and {len(ev)} evaluation vertebrae; need both",
                         field="split")
    missing = [c for c in CLASSES if c not in set(tr["vcf_type"])]
    if missing:
        print(f"warning: xu2023_vcf training rows have no {missing} vertebrae; the model cannot "
              f"learn those classes")
    return tr, ev


def _dataset_order(names):
    key = {"test": 0, "prospective": 2}
    return sorted(names, key=lambda d: (key.get(d, 1), d))


def published_name(dataset: str, external_sites: list[str]) -> str | None:
    if dataset == "test":
        return "Testing"
    if dataset == "prospective":
        return "Prospective"
    site = dataset.removeprefix("external ")
    i = sorted(external_sites).index(site) if site in external_sites else -1
    return PUBLISHED_EXTERNAL[i] if 0 <= i < len(PUBLISHED_EXTERNAL) else None


def ovr_metrics(truth: np.ndarray, probs: np.ndarray, n_boot: int, seed: int) -> dict:
    """{class | 'overall': {metric: (value, ci_low, ci_high)}} on one dataset.

    Uses the statistics core's multiclass table (stratified bootstrap CIs) when every class
    is present; otherwise classes without cases get NaN, and the present classes' AUCs come
    from a DeLong CI (vfrepro.stats.roc), since a one-vs-rest AUC needs positives and negatives.
    """
    from ..stats.multiclass import multiclass_table
    from ..stats.roc import delong_ci
    K = len(CLASSES)
    y = np.asarray(truth)
    present = np.bincount(y, minlength=K) > 0
    out = {}
    if present.all() and n_boot >= 0:
        tab = multiclass_table(y, probs, classes=CLASSES, n_boot=n_boot, seed=seed)
        for c in CLASSES:
            d = tab["per_class"][c]
            out[c] = {m: (d[m]["value"], d[m].get("ci_low", np.nan), d[m].get("ci_high", np.nan))
                      for m in ("auc", "accuracy", "sensitivity", "specificity", "ppv", "npv", "f1")}
        top1 = tab["overall"]["accuracy"]
        out["_top1"] = (top1["value"], top1.get("ci_low", np.nan), top1.get("ci_high", np.nan))
        out["_macro_auc"] = tuple(tab["overall"]["macro_auc"].get(k, np.nan) for k in ("value", "ci_low", "ci_high"))
    else:
        q = probs.argmax(1)
        for k, c in enumerate(CLASSES):
            yk, qk = (y == k), (q == k)
            tp, fp = int((yk & qk).sum()), int((~yk & qk).sum())
            fn, tn = int((yk & ~qk).sum()), int((~yk & ~qk).sum())
            div = lambda a, b: a / b if b else np.nan  # noqa: E731
            d = {"accuracy": div(tp + tn, len(y)), "sensitivity": div(tp, tp + fn),
                 "specificity": div(tn, tn + fp), "ppv": div(tp, tp + fp), "npv": div(tn, tn + fn),
                 "f1": div(2 * tp, 2 * tp + fp + fn)}
            d = {m: (v, np.nan, np.nan) for m, v in d.items()}
            if present[k] and not present.all() and 0 < yk.sum() < len(y):
                r = delong_ci(yk.astype(int), probs[:, k])
                d["auc"] = (r.auc, r.ci_low, r.ci_high)
            else:
                d["auc"] = (np.nan, np.nan, np.nan)
            if not present[k]:
                d = {m: (np.nan, np.nan, np.nan) for m in d}
            out[c] = d
        out["_top1"] = (float((q == y).mean()), np.nan, np.nan)
        out["_macro_auc"] = (np.nan, np.nan, np.nan)
    for c in CLASSES:
        out[c]["precision"] = out[c]["ppv"]
    # The paper's overall row: mean over classes of each one-vs-rest metric (its accuracy row
    # equals the mean OvR accuracy), over the classes present.
    out["overall"] = {m: (float(np.nanmean([out[c][m][0] for c in CLASSES]))
                          if any(np.isfinite(out[c][m][0]) for c in CLASSES) else np.nan, np.nan, np.nan)
                      for m in TABLE_METRICS}
    out["overall"]["auc"] = out["_macro_auc"]
    return out


def table2(pred: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Table 2 layout: one row per (dataset, class|overall); for each metric the published value,
    the reproduced value and (AUC) its 95% CI. Percent as the paper, AUC as a fraction."""
    pub = published_table2().set_index(["dataset", "class"])
    ext_sites = sorted(pred.loc[pred["dataset"].str.startswith("external "), "dataset"]
                       .str.removeprefix("external ").unique())
    rows = []
    for ds in _dataset_order(pred["dataset"].unique()):
        p = pred[pred["dataset"] == ds]
        y = np.array([CLASSES.index(v) for v in p["truth"]])
        P = p[[f"prob_{c}" for c in CLASSES]].to_numpy(float)
        met = ovr_metrics(y, P, n_boot, seed)
        pname = published_name(ds, ext_sites)
        counts = np.bincount(y, minlength=len(CLASSES))
        for c in ["overall"] + CLASSES:
            row = {"dataset": ds, "published_dataset": pname or "", "class": c,
                   "n": int(len(y)) if c == "overall" else int(counts[CLASSES.index(c)])}
            for m in TABLE_METRICS:
                v, lo, hi = met[c][m]
                scale = 1 if m == "auc" else 100
                pv = pub[m].get((pname, c), np.nan) if pname else np.nan
                row[f"{m}_published"] = pv
                row[f"{m}_reproduced"] = round(v * scale, 3 if m == "auc" else 1) if np.isfinite(v) else np.nan
                if m == "auc":
                    row["auc_ci95_published"] = (pub["auc_ci"].get((pname, c), "") if pname else "") or ""
                    row["auc_ci95_reproduced"] = f"{lo:.3f}-{hi:.3f}" if np.isfinite(lo) else ""
            if c == "overall":
                t1 = met["_top1"]
                row["top1_accuracy_reproduced"] = round(100 * t1[0], 1)
            rows.append(row)
    return pd.DataFrame(rows)


def _markdown(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in df.itertuples(index=False):
        lines.append("| " + " | ".join("" if (isinstance(v, float) and np.isnan(v)) else str(v) for v in r) + " |")
    return "\n".join(lines) + "\n"


def evaluate(pred_path, out_dir, n_boot: int = 1000, seed: int = 0, info_path=None) -> pd.DataFrame:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pred = pd.read_csv(pred_path, dtype={"case_id": str, "truth": str, "pred": str, "dataset": str})
    t2 = table2(pred, n_boot, seed)
    t2.to_csv(out / "table2.csv", index=False)
    init = json.loads(Path(info_path).read_text())["init"] if info_path else "?"
    head = (f"# xu2023_vcf: Table 2, published beside reproduced\n\nPublished: {PUBLISHED_SOURCE}. "
            f"Reproduced: ResNet-18 ({init}); AUC 95% CI by stratified bootstrap ({n_boot} resamples, "
            f"seed {seed}) where every class is present, else DeLong; the overall row is the mean of "
            f"the one-vs-rest metrics (as the paper's), top-1 accuracy beside it. Precision = PPV. "
            f"External sites are matched to the paper's in sorted order (column published_dataset).\n\n")
    show = ["dataset", "published_dataset", "class", "n"] + [f"{m}_{s}" for m in TABLE_METRICS
                                                           for s in ("published", "reproduced")]
    (out / "table2.md").write_text(head + _markdown(t2[show]))
    _plot_per_dataset(pred, out / "roc_curves.png", out / "confusion_matrices.png")
    return t2


def _plot_per_dataset(pred, roc_png, cm_png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix, roc_curve
    dsets = _dataset_order(pred["dataset"].unique())
    n = len(dsets)
    f1, ax1 = plt.subplots(1, n, figsize=(3.6 * n, 3.6), squeeze=False)
    f2, ax2 = plt.subplots(1, n, figsize=(3.6 * n, 3.6), squeeze=False)
    for i, ds in enumerate(dsets):
        p = pred[pred["dataset"] == ds]
        for c in CLASSES:
            y = (p["truth"] == c).to_numpy().astype(int)
            if 0 < y.sum() < len(y):
                fpr, tpr, _ = roc_curve(y, p[f"prob_{c}"].to_numpy(float))
                from ..stats.roc import auc
                ax1[0, i].plot(fpr, tpr, label=f"{c} AUC {auc(y, p[f'prob_{c}'].to_numpy(float)):.2f}")
        ax1[0, i].plot([0, 1], [0, 1], ls=":", c="grey")
        ax1[0, i].set_title(f"{ds} (n={len(p)})", fontsize=9)
        ax1[0, i].set_xlabel("1 - specificity")
        ax1[0, i].set_ylabel("Sensitivity")
        if ax1[0, i].get_legend_handles_labels()[0]:
            ax1[0, i].legend(fontsize=7, loc="lower right")
        else:
            ax1[0, i].text(0.5, 0.1, "no class with both positives and negatives", ha="center", fontsize=7)
        cm = confusion_matrix(p["truth"], p["pred"], labels=CLASSES).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            cmn = cm / cm.sum(axis=1, keepdims=True)
        ax2[0, i].imshow(np.nan_to_num(cmn), vmin=0, vmax=1, cmap="Blues")
        for (r, c), v in np.ndenumerate(cmn):
            ax2[0, i].text(c, r, "-" if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=8)
        ax2[0, i].set_xticks(range(3), CLASSES, fontsize=7)
        ax2[0, i].set_yticks(range(3), CLASSES, fontsize=7)
        ax2[0, i].set_xlabel("Predicted")
        ax2[0, i].set_ylabel("True")
        ax2[0, i].set_title(f"{ds} (row-normalised)", fontsize=9)
    for f, path in ((f1, roc_png), (f2, cm_png)):
        f.tight_layout()
        f.savefig(path, dpi=110)
        plt.close(f)


def reader_columns(table: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """{reader: (alone column, with-model column)} for columns reader_<name>_alone / _with_model."""
    readers = {}
    for c in table.columns:
        if c.startswith("reader_") and c.endswith("_alone"):
            name = c[len("reader_"):-len("_alone")]
            w = f"reader_{name}_with_model"
            if w in table.columns:
                readers[name] = (c, w)
    return readers


def reader_study(table: pd.DataFrame, pred_path, out_csv, out_md, n_boot: int = 1000, seed: int = 0) -> str:
    """Collaboration table (Table 3 layout) and McNemar per reader (alone vs with the model).

    Optional input: without reader columns (reader_<name>_alone, reader_<name>_with_model,
    holding vcf labels on the collaboration subset) it writes a skip message, not an error.
    """
    from ..stats.paired import mcnemar
    readers = reader_columns(table)
    if not readers:
        msg = ("reader study skipped: the manifest has no reader columns "
               "(reader_<name>_alone and reader_<name>_with_model with acute/chronic/pathologic "
               "labels on the collaboration subset)")
        pd.DataFrame(columns=["reader", "condition", "n", "accuracy_top1", "mean_ovr_accuracy",
                              "published_accuracy", "mcnemar_p"]).to_csv(out_csv, index=False)
        Path(out_md).write_text(f"# xu2023_vcf reader study\n\n{msg}\n")
        print(msg)
        return msg
    pred = pd.read_csv(pred_path, dtype={"case_id": str, "truth": str, "pred": str})
    cols = sorted({c for pair in readers.values() for c in pair})
    sub = pred.merge(table[["case_id", "level"] + cols], on=["case_id", "level"])
    sub = sub[sub[cols].notna().all(axis=1)]
    if sub.empty:
        raise InputError("reader columns present but no evaluated vertebra has all reader labels",
                         field=cols[0])
    for c in cols:
        bad = sorted(set(sub[c]) - set(CLASSES))
        if bad:
            raise InputError(f"reader labels {bad} are not {CLASSES}", field=c)
    y = np.array([CLASSES.index(v) for v in sub["truth"]])
    P_model = sub[[f"prob_{c}" for c in CLASSES]].to_numpy(float)
    rows = []

    def summarise(name, P, correct_alone=None, correct=None):
        met = ovr_metrics(y, P, n_boot, seed)
        r = {"reader": name.split(":")[0], "condition": name.split(":")[1], "n": len(y),
             "accuracy_top1": round(100 * float((P.argmax(1) == y).mean()), 1),
             "mean_ovr_accuracy": round(100 * met["overall"]["accuracy"][0], 1)}
        for c in CLASSES:
            r[f"auc_{c}"] = round(met[c]["auc"][0], 3) if np.isfinite(met[c]["auc"][0]) else np.nan
        who, cond = name.split(":")
        r["published_accuracy"] = PUBLISHED_READERS.get(who if cond == "alone" else f"{who}_with_model",
                                                        np.nan)
        if correct_alone is not None:
            t = mcnemar(correct_alone, correct)
            r["mcnemar_p"] = t["p"]
        rows.append(r)

    summarise("model:alone", P_model)
    for name, (ca, cw) in readers.items():
        Pa = np.eye(3)[[CLASSES.index(v) for v in sub[ca]]]
        Pw = np.eye(3)[[CLASSES.index(v) for v in sub[cw]]]
        summarise(f"{name}:alone", Pa)
        summarise(f"{name}:with_model", Pw, (Pa.argmax(1) == y).astype(int), (Pw.argmax(1) == y).astype(int))
    df = pd.DataFrame(rows)
    df.to_csv(out_csv, index=False)
    Path(out_md).write_text("# xu2023_vcf reader study (Table 3 layout)\n\nReader AUCs from their "
                            "one-hot labels, as the paper's; McNemar (with vs alone) on per-vertebra "
                            "correctness.\n\n" + _markdown(df))
    return f"reader study: {len(readers)} reader(s), {len(sub)} vertebrae"
