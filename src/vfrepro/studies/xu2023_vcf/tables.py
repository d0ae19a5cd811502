"""xu2023_vcf tables: Table 2 per dataset (overall + per class: AUC with 95% CI, accuracy,
sensitivity, specificity, precision, F1, PPV, NPV) published beside reproduced, the figures'
panels, and the optional reader study (Table 3 layout + McNemar per reader)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...errors import InputError
from ...evaluate import published as pub
from ...evaluate.figures import ConfusionPanel, Curve, RocPanel
from ...evaluate.metrics import one_vs_rest
from ...evaluate.schema import class_index, prob_columns
from .study import CLASSES, STUDY, dataset_order, published_name

TABLE_METRICS = ("auc", "accuracy", "sensitivity", "specificity", "precision", "f1", "ppv", "npv")
READER_SUFFIXES = ("_alone", "_with_model")


def ovr_metrics(y: np.ndarray, probs: np.ndarray, n_boot: int, seed: int) -> dict:
    """{class | 'overall': {metric: (value, ci_low, ci_high)}} on one dataset, in Table 2's terms.

    One-vs-rest metrics from vfrepro.evaluate.metrics (stratified bootstrap CIs when every
    class is present, else DeLong CIs of the present classes' AUCs). Table 2's policy: a
    class without cases is blank; the overall row is the mean over the classes of each
    one-vs-rest metric (the paper's accuracy row is the mean OvR accuracy) and its AUC the
    macro AUC over all three classes (blank when one is absent); precision = PPV.
    """
    res = one_vs_rest(y, probs, CLASSES, ci="delong", n_boot=n_boot, seed=seed)
    out = {}
    for c in CLASSES:
        d = res["per_class"][c]
        out[c] = {m: ((np.nan, np.nan, np.nan) if c in res["absent"] else
                      (d[m]["value"], d[m].get("ci_low", np.nan), d[m].get("ci_high", np.nan)))
                  for m in ("auc", "accuracy", "sensitivity", "specificity", "ppv", "npv", "f1")}
        out[c]["precision"] = out[c]["ppv"]
    top1 = res["overall"]["accuracy"]
    out["_top1"] = (top1["value"], top1.get("ci_low", np.nan), top1.get("ci_high", np.nan))
    macro = res["overall"]["macro_auc"]
    out["overall"] = {m: (float(np.nanmean([out[c][m][0] for c in CLASSES]))
                          if any(np.isfinite(out[c][m][0]) for c in CLASSES) else np.nan, np.nan, np.nan)
                      for m in TABLE_METRICS}
    out["overall"]["auc"] = ((np.nan, np.nan, np.nan) if res["absent"] else
                             (macro["value"], macro.get("ci_low", np.nan), macro.get("ci_high", np.nan)))
    return out


def _ci_text(lo, hi) -> str:
    return f"{lo:.3f}-{hi:.3f}" if np.isfinite(lo) else ""


def table2(pred: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Table 2 layout: one row per (dataset, class|overall); for each metric the published value,
    the reproduced value and (AUC) its 95% CI. Percent as the paper, AUC as a fraction."""
    ext_sites = sorted(pred.loc[pred["dataset"].str.startswith("external "), "dataset"]
                       .str.removeprefix("external ").unique())
    lines, cells = [], []
    for ds in dataset_order(pred["dataset"].unique()):
        p = pred[pred["dataset"] == ds]
        y = class_index(p["truth"], CLASSES)
        met = ovr_metrics(y, p[prob_columns(CLASSES)].to_numpy(float), n_boot, seed)
        pname = published_name(ds, ext_sites) or ""
        counts = np.bincount(y, minlength=len(CLASSES))
        for c in ["overall"] + CLASSES:
            lines.append((ds, pname, c, int(len(y)) if c == "overall" else int(counts[CLASSES.index(c)]),
                          met["_top1"][0]))
            cells += [{"dataset": ds, "row": pname, "column": c, "quantity": m, "value": met[c][m][0],
                       "ci_low": met[c][m][1], "ci_high": met[c][m][2]} for m in TABLE_METRICS]
    t = pub.beside(pd.DataFrame(cells), pub.load(STUDY)).set_index(["dataset", "column", "quantity"])
    rows = []
    for ds, pname, c, n, top1 in lines:
        row = {"dataset": ds, "published_dataset": pname, "class": c, "n": n}
        for m in TABLE_METRICS:
            x = t.loc[(ds, c, m)]
            row[f"{m}_published"] = x["published"]
            row[f"{m}_reproduced"] = (round(x["value"] * (1 if m == "auc" else 100), 3 if m == "auc" else 1)
                                      if np.isfinite(x["value"]) else np.nan)
            if m == "auc":
                row["auc_ci95_published"] = _ci_text(x["published_ci_low"], x["published_ci_high"])
                row["auc_ci95_reproduced"] = _ci_text(x["ci_low"], x["ci_high"])
        if c == "overall":
            row["top1_accuracy_reproduced"] = round(100 * top1, 1)
        rows.append(row)
    return pd.DataFrame(rows)


def table2_markdown(t2: pd.DataFrame, init: str, n_boot: int, seed: int) -> str:
    head = (f"# xu2023_vcf: Table 2, published beside reproduced\n\nPublished: {pub.load(STUDY).source}. "
            f"Reproduced: ResNet-18 ({init}); AUC 95% CI by stratified bootstrap ({n_boot} resamples, "
            f"seed {seed}) where every class is present, else DeLong; the overall row is the mean of "
            f"the one-vs-rest metrics (as the paper's), top-1 accuracy beside it. Precision = PPV. "
            f"External sites are matched to the paper's in sorted order (column published_dataset).\n\n")
    show = ["dataset", "published_dataset", "class", "n"] + [f"{m}_{s}" for m in TABLE_METRICS
                                                           for s in ("published", "reproduced")]
    return head + pub.markdown(t2, show) + "\n"


def panels(pred: pd.DataFrame) -> tuple[list[RocPanel], list[ConfusionPanel]]:
    """Per dataset: one-vs-rest ROC curves and the confusion matrix (row-normalised when drawn)."""
    from sklearn.metrics import confusion_matrix

    from ...stats.roc import auc
    roc, cm = [], []
    for ds in dataset_order(pred["dataset"].unique()):
        p = pred[pred["dataset"] == ds]
        panel = RocPanel(f"{ds} (n={len(p)})")
        for c in CLASSES:
            y = (p["truth"] == c).to_numpy().astype(int)
            if 0 < y.sum() < len(y):
                s = p[f"prob_{c}"].to_numpy(float)
                panel.curves.append(Curve(f"{c} AUC {auc(y, s):.2f}", y, s))
        roc.append(panel)
        cm.append(ConfusionPanel(f"{ds} (row-normalised)", confusion_matrix(p["truth"], p["pred"], labels=CLASSES),
                                 CLASSES))
    return roc, cm


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


READER_COLUMNS = ["reader", "condition", "n", "accuracy_top1", "mean_ovr_accuracy", "published_accuracy", "mcnemar_p"]
SKIPPED = ("reader study skipped: the manifest has no reader columns "
           "(reader_<name>_alone and reader_<name>_with_model with acute/chronic/pathologic "
           "labels on the collaboration subset)")


def reader_study(table: pd.DataFrame, pred: pd.DataFrame, n_boot: int = 1000, seed: int = 0):
    """Collaboration table (Table 3 layout) and McNemar per reader (alone vs with the model).
    Gives (table, Markdown, message).

    Optional input: without reader columns (reader_<name>_alone, reader_<name>_with_model,
    holding vcf labels on the collaboration subset) the table is empty and the message says
    why, not an error.
    """
    from ...stats.paired import mcnemar
    readers = reader_columns(table)
    if not readers:
        return (pd.DataFrame(columns=READER_COLUMNS), f"# xu2023_vcf reader study\n\n{SKIPPED}\n", SKIPPED)
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
    y = class_index(sub["truth"], CLASSES)
    P = pub.load(STUDY)
    rows = []

    def summarise(who, cond, probs, correct_alone=None, correct=None):
        met = ovr_metrics(y, probs, n_boot, seed)
        r = {"reader": who, "condition": cond, "n": len(y),
             "accuracy_top1": round(100 * float((probs.argmax(1) == y).mean()), 1),
             "mean_ovr_accuracy": round(100 * met["overall"]["accuracy"][0], 1)}
        for c in CLASSES:
            r[f"auc_{c}"] = round(met[c]["auc"][0], 3) if np.isfinite(met[c]["auc"][0]) else np.nan
        r["published_accuracy"] = P.value(who, cond, "accuracy")
        if correct_alone is not None:
            r["mcnemar_p"] = mcnemar(correct_alone, correct)["p"]
        rows.append(r)

    summarise("model", "alone", sub[prob_columns(CLASSES)].to_numpy(float))
    for name, (ca, cw) in readers.items():
        # A reader's one-hot labels are their scores, as the paper's reader AUCs.
        Pa, Pw = np.eye(3)[class_index(sub[ca], CLASSES)], np.eye(3)[class_index(sub[cw], CLASSES)]
        summarise(name, "alone", Pa)
        summarise(name, "with_model", Pw, (Pa.argmax(1) == y).astype(int), (Pw.argmax(1) == y).astype(int))
    df = pd.DataFrame(rows)
    md = ("# xu2023_vcf reader study (Table 3 layout)\n\nReader AUCs from their one-hot labels, as the "
          "paper's; McNemar (with vs alone) on per-vertebra correctness.\n\n" + pub.markdown(df) + "\n")
    return df, md, f"reader study: {len(readers)} reader(s), {len(sub)} vertebrae"


# the tables the reproduction verdict reads (results/xu2023_vcf/...)
REPRODUCTION_INPUTS = ("table2.csv",)


def reproduced_long(results) -> pd.DataFrame:
    """This study's reproduced numbers in the verdict's long form (vfrepro.evaluate.verdict):
    from ``table2.csv`` (percent as the paper, AUC as a fraction). Per class: the AUC with its
    CI, accuracy (denominator: the dataset), sensitivity (the class), specificity (the other
    classes); precision, F1, NPV and the overall row (a mean of one-vs-rest metrics) carry no
    CI or denominator. A class without cases in a dataset: 'class absent'."""
    from pathlib import Path
    t = pd.read_csv(Path(results) / "table2.csv", keep_default_na=False, na_values=[""])
    t = t[t["published_dataset"].notna() & (t["published_dataset"].astype(str) != "")]
    rows = []
    for ds, d in t.groupby("published_dataset", sort=False):
        n_all = int(d.loc[d["class"] == "overall", "n"].iloc[0])
        for r in d.to_dict("records"):
            c, n_c = str(r["class"]), int(r["n"])
            absent = "class absent from the dataset" if c != "overall" and n_c == 0 else ""
            for m in TABLE_METRICS:
                row = {"row": str(ds), "column": c, "quantity": m, "value": r[f"{m}_reproduced"],
                       "scale": 1.0 if m == "auc" else 100.0, "reason": absent}
                if m == "auc":
                    ci = str(r.get("auc_ci95_reproduced") or "")
                    if "-" in ci and ci != "nan":
                        lo, hi = ci.split("-", 1)
                        row.update(ci_low=float(lo), ci_high=float(hi), ci_method="bootstrap or DeLong (Table 2 note)")
                elif c != "overall":
                    row["n"] = {"accuracy": n_all, "sensitivity": n_c, "specificity": n_all - n_c}.get(m)
                if c == "overall" and m != "auc" and not absent:
                    row["reason"] = "a mean of one-vs-rest metrics: no CI"
                rows.append(row)
    return pd.DataFrame(rows)


# one predictions file per run (``vfrepro tables`` CSV)
PREDICTION_MODELS = ("resnet18",)


def from_predictions(paths: dict, out, cfg: dict, infos: dict | None = None) -> list[str]:
    """The evaluate stage's files from the predictions file (its own command). ``cfg``:
    ``n_boot``, ``seed`` (the stage's config keys; default 1000, 0)."""
    import argparse
    from .cli import _evaluate
    _evaluate(argparse.Namespace(predictions=str(next(iter(paths.values()))), out=str(out),
                                 infos=[str(v) for v in infos.values()] if infos else None,
                                 n_boot=int(cfg.get("n_boot", 1000)), seed=int(cfg.get("seed", 0))))
    return ["table2.csv", "table2.md", "roc_curves.png", "confusion_matrices.png"]
