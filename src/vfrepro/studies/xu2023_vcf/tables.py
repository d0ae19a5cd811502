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
from ...evaluate.schema import class_index, patients, prob_columns
from .study import CLASSES, STUDY, dataset_order, published_name

TABLE_METRICS = ("auc", "accuracy", "sensitivity", "specificity", "precision", "f1", "ppv", "npv")

# Readings of the paper's tables and values it leaves out: (setting, value, reason).
CHOSEN = [
    ("overall row", "one-vs-rest counts pooled over the classes (micro) for accuracy, sensitivity, "
     "specificity, PPV, NPV; precision support-weighted; F1 = 2PR/(P+R) of weighted precision and recall",
     "the paper's overall sensitivity = PPV = top-1 accuracy (micro), its precision differs from its PPV and "
     "matches the support-weighted mean of the class rows, and only 2PR/(P+R) gives its WHTH F1 (65.2); "
     "the macro mean is a second row, labelled"),
    ("overall AUC", "micro AUC (overall row), macro AUC (macro row)", "the paper prints no overall AUC"),
    ("CIs", "percentile bootstrap, patients resampled with all their vertebrae where a patient has several "
     "(vfrepro.evaluate.metrics, groups = patient)",
     "the paper's AUC CIs (e.g. 0.873-0.875 on 408 vertebrae) are far narrower than any resampling of "
     "vertebrae gives, and name no method; a patient contributes several vertebrae"),
    ("overall-row CIs", "the top-1 accuracy CI mapped through the micro identities; none for precision / F1",
     "micro accuracy, sensitivity, specificity, PPV and NPV are increasing functions of top-1 accuracy"),
    ("Table 1 tests", "chi-square (class mix, sex), one-way ANOVA (age)",
     "the paper gives P < 0.05 for age and sex without naming the tests"),
    ("reader scores", "a reader's one-hot label is their score (AUC, Fig 6 operating points)",
     "the paper's reader AUCs without a stated score"),
    ("external sites", "the cohort's external sites matched to GZFPH, WHTH, HB672H in sorted order",
     "the cohort's sites carry no hospital names"),
]
SYNTHETIC = ("cohort", "synthetic", "the numbers test the pipeline on a seeded synthetic cohort, not the paper's claim")
READER_SUFFIXES = ("_alone", "_with_model")




def paper_overall(y: np.ndarray, q: np.ndarray, K: int) -> dict:
    """Table 2's overall row as the paper's numbers imply: one-vs-rest counts pooled over the
    classes (micro) for accuracy, sensitivity, specificity, PPV and NPV (so sensitivity = PPV
    = top-1 accuracy); precision support-weighted over the classes and F1 the harmonic mean of
    the weighted precision and weighted recall (the only reading that gives the paper's
    precision != PPV and its WHTH F1 of 65.2). ``y``/``q``: true / predicted class indices."""
    from sklearn.metrics import multilabel_confusion_matrix, precision_recall_fscore_support
    labels = list(range(K))
    tn, fp, fn, tp = multilabel_confusion_matrix(y, q, labels=labels).sum(axis=0).ravel()
    wp, wr, _, _ = precision_recall_fscore_support(y, q, labels=labels, average="weighted", zero_division=0)

    def ratio(a, b):
        return float(a / b) if b else np.nan
    return {"accuracy": ratio(tp + tn, tp + tn + fp + fn), "sensitivity": ratio(tp, tp + fn),
            "specificity": ratio(tn, tn + fp), "ppv": ratio(tp, tp + fp), "npv": ratio(tn, tn + fn),
            "precision": float(wp), "f1": ratio(2 * wp * wr, wp + wr)}


def _from_top1(a: float, K: int) -> dict:
    """The micro metrics as functions of top-1 accuracy ``a`` (pooled TP = correct, FP = FN =
    wrong): increasing in ``a``, so a percentile CI of ``a`` maps to theirs."""
    spec = (K - 2 + a) / (K - 1)
    return {"accuracy": (K - 2 + 2 * a) / K, "sensitivity": a, "ppv": a, "specificity": spec, "npv": spec}


def ovr_metrics(y: np.ndarray, probs: np.ndarray, n_boot: int, seed: int, groups=None) -> dict:
    """{class | 'overall' | 'macro': {metric: (value, ci_low, ci_high)}} on one dataset, in
    Table 2's terms, plus '_top1' and '_method' (how the CIs were drawn) and '_note'.

    One-vs-rest metrics from vfrepro.evaluate.metrics: bootstrap CIs, a cluster bootstrap of
    patients when ``groups`` (patient ids) repeat; with a class absent, only the present
    classes' AUCs get CIs. 'overall' is the paper's row (:func:`paper_overall`; the micro
    metrics' CIs map the top-1 accuracy CI, precision and F1 have none; its AUC is the micro
    AUC, which the paper does not print); 'macro' the mean over the present classes of each
    one-vs-rest metric, its AUC the macro AUC (blank when a class is absent). A class without
    cases is blank; precision = PPV per class.
    """
    K = len(CLASSES)
    res = one_vs_rest(y, probs, CLASSES, ci="bootstrap", n_boot=n_boot, seed=seed, groups=groups)
    out = {}
    for c in CLASSES:
        d = res["per_class"][c]
        out[c] = {m: ((np.nan, np.nan, np.nan) if c in res["absent"] else
                      (d[m]["value"], d[m].get("ci_low", np.nan), d[m].get("ci_high", np.nan)))
                  for m in ("auc", "accuracy", "sensitivity", "specificity", "ppv", "npv", "f1")}
        out[c]["precision"] = out[c]["ppv"]
    top1 = res["overall"]["accuracy"]
    out["_top1"] = (top1["value"], top1.get("ci_low", np.nan), top1.get("ci_high", np.nan))
    out["_method"] = res.get("method", "")
    out["_note"] = res.get("note", "")
    paper = paper_overall(y, probs.argmax(1), K)
    lo, hi = (_from_top1(v, K) if np.isfinite(v) else None for v in out["_top1"][1:])
    out["overall"] = {m: (paper[m], lo[m] if lo and m in lo else np.nan, hi[m] if hi and m in hi else np.nan)
                      for m in paper}
    micro = res["overall"]["micro_auc"]
    out["overall"]["auc"] = (micro["value"], micro.get("ci_low", np.nan), micro.get("ci_high", np.nan))
    out["macro"] = {m: (float(np.nanmean([out[c][m][0] for c in CLASSES]))
                        if any(np.isfinite(out[c][m][0]) for c in CLASSES) else np.nan, np.nan, np.nan)
                    for m in TABLE_METRICS}
    macro = res["overall"]["macro_auc"]
    out["macro"]["auc"] = ((np.nan, np.nan, np.nan) if res["absent"] else
                           (macro["value"], macro.get("ci_low", np.nan), macro.get("ci_high", np.nan)))
    return out


def _ci_text(lo, hi, digits: int = 3) -> str:
    return f"{lo:.{digits}f}-{hi:.{digits}f}" if np.isfinite(lo) and np.isfinite(hi) else ""


ROWS = ("overall", "macro", *CLASSES)
ROW_LABELS = {"overall": "overall (paper: micro; precision, F1 weighted)", "macro": "macro mean (not in the paper)"}


def table2(pred: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Table 2 layout: per dataset the paper's overall row, the macro row and one row per
    class; for each metric the published value, the reproduced value and its 95% CI (text
    ``low-high``, blank where there is none), the CI method per dataset. Percent as the paper,
    AUC as a fraction."""
    ext_sites = sorted(pred.loc[pred["dataset"].str.startswith("external "), "dataset"]
                       .str.removeprefix("external ").unique())
    lines, cells = [], []
    for ds in dataset_order(pred["dataset"].unique()):
        p = pred[pred["dataset"] == ds]
        y = class_index(p["truth"], CLASSES)
        g = patients(p)
        met = ovr_metrics(y, p[prob_columns(CLASSES)].to_numpy(float), n_boot, seed, groups=g)
        pname = published_name(ds, ext_sites) or ""
        counts = np.bincount(y, minlength=len(CLASSES))
        for c in ROWS:
            n = int(len(y)) if c in ("overall", "macro") else int(counts[CLASSES.index(c)])
            n_pat = int(len(np.unique(g))) if c in ("overall", "macro") else int(len(np.unique(g[y == CLASSES.index(c)])))
            lines.append((ds, pname, c, n, n_pat, met["_top1"], met["_method"], met["_note"]))
            cells += [{"dataset": ds, "row": pname, "column": c, "quantity": m, "value": met[c][m][0],
                       "ci_low": met[c][m][1], "ci_high": met[c][m][2]} for m in TABLE_METRICS]
    t = pub.beside(pd.DataFrame(cells), pub.load(STUDY)).set_index(["dataset", "column", "quantity"])
    rows = []
    for ds, pname, c, n, n_pat, top1, method, note in lines:
        row = {"dataset": ds, "published_dataset": pname, "class": c, "n": n, "n_patients": n_pat}
        for m in TABLE_METRICS:
            x = t.loc[(ds, c, m)]
            scale, digits = (1, 3) if m == "auc" else (100, 1)
            row[f"{m}_published"] = x["published"]
            row[f"{m}_reproduced"] = round(x["value"] * scale, digits) if np.isfinite(x["value"]) else np.nan
            row[f"{m}_ci95_reproduced"] = _ci_text(x["ci_low"] * scale, x["ci_high"] * scale, digits)
            if m == "auc":
                row["auc_ci95_published"] = _ci_text(x["published_ci_low"], x["published_ci_high"])
        row["top1_accuracy_reproduced"] = round(100 * top1[0], 1) if c == "overall" else np.nan
        row["top1_accuracy_ci95_reproduced"] = _ci_text(100 * top1[1], 100 * top1[2], 1) if c == "overall" else ""
        row["ci_method"] = method
        row["ci_note"] = note
        rows.append(row)
    return pd.DataFrame(rows)


def table2_markdown(t2: pd.DataFrame, init: str, n_boot: int, seed: int, chosen_md: str = "") -> str:
    methods = "; ".join(f"{d}: {m}" for d, m in t2.drop_duplicates("dataset")[["dataset", "ci_method"]]
                        .itertuples(index=False))
    head = (f"# xu2023_vcf: Table 2, published beside reproduced\n\nPublished: {pub.load(STUDY).source}. "
            f"Reproduced: ResNet-18 ({init}); 95% CIs from {n_boot} bootstrap resamples (seed {seed}), "
            f"patients resampled with all their vertebrae where a patient has several ({methods}). "
            f"Row 'overall' is computed as the paper's: one-vs-rest counts pooled over the classes "
            f"(micro: sensitivity = PPV = top-1 accuracy; its CIs map the top-1 accuracy CI), precision "
            f"support-weighted and F1 from the weighted precision and recall (no CI); its AUC is the "
            f"micro AUC (not printed in the paper). Row 'macro' (not in the paper): the mean of the "
            f"one-vs-rest metrics over the present classes, AUC the macro AUC. Per class precision = PPV. "
            f"External sites are matched to the paper's in sorted order (column published_dataset).\n\n")
    show = ["dataset", "published_dataset", "class", "n", "n_patients"]
    show += [f"{m}_{s}" for m in TABLE_METRICS for s in ("published", "reproduced")]
    show += ["auc_ci95_reproduced", "top1_accuracy_reproduced", "top1_accuracy_ci95_reproduced"]
    shown = t2.assign(**{"class": t2["class"].map(lambda c: ROW_LABELS.get(c, c))})
    notes = t2.loc[t2["ci_note"].astype(str).str.len() > 0].drop_duplicates("dataset")
    note_md = "".join(f"- {r.dataset}: {r.ci_note}\n" for r in notes.itertuples())
    return (head + pub.markdown(shown, show) + "\n" + (f"\nCI notes:\n\n{note_md}" if note_md else "")
            + (f"\n{chosen_md}" if chosen_md else ""))


T1_NAMES = {"training": "Training", "test": "Testing", "prospective": "Prospective"}


def table1(table: pd.DataFrame, pred: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Table 1: cohort characteristics by dataset (training, test, each external site,
    prospective), reproduced beside published: vertebrae, patients, age mean / SD and sex
    (patients; when the manifest has age / sex), vertebrae per class; with a chi-square test
    of the class mix (vertebrae) and of sex (patients) and a one-way ANOVA of age (patients)
    across the datasets. The training rows are the fractured development rows of the
    patients not in the predictions' test split (the split the train stage drew)."""
    from scipy.stats import chi2_contingency, f_oneway
    t = table[table["vcf_type"].isin(CLASSES)].copy()
    t["case_id"] = t["case_id"].astype(str)
    test_pat = set(patients(pred[pred["dataset"] == "test"]))
    dev = t[t["split"].isin(["train", "internal"])]
    stray = sorted(test_pat - set(dev["case_id"]))
    if stray:
        raise InputError(f"{len(stray)} test patient(s) of the predictions are not development rows of the "
                         f"manifest: predictions and manifest do not belong together", field="case_id")
    parts = {"training": dev[~dev["case_id"].isin(test_pat)], "test": dev[dev["case_id"].isin(test_pat)]}
    for ds in dataset_order([d for d in pred["dataset"].unique() if d != "test"]):
        parts[ds] = (t[t["split"] == "prospective"] if ds == "prospective" else
                     t[(t["split"] == "external") & ("external " + t["site"].astype(str) == ds)])
    ext = sorted(d.removeprefix("external ") for d in parts if d.startswith("external "))
    has_age, has_sex = "age" in t.columns, "sex" in t.columns
    cols, per_patient, mix, sexes, ages = {}, {}, [], [], []
    for ds, d in parts.items():
        pt = d.drop_duplicates("case_id")
        per_patient[ds] = pt
        col = {"vertebrae": len(d), "patients": len(pt)}
        if has_age:
            a = pd.to_numeric(pt["age"], errors="coerce").dropna()
            col.update({"age mean": round(float(a.mean()), 2) if len(a) else np.nan,
                        "age sd": round(float(a.std(ddof=1)), 2) if len(a) > 1 else np.nan})
            ages.append(a.to_numpy(float))
        if has_sex:
            sx = pt["sex"].astype(str).str.strip().str.upper().str[:1]
            col.update({"male": int((sx == "M").sum()), "female": int((sx == "F").sum())})
            sexes.append([col["male"], col["female"]])
        counts = [int((d["vcf_type"] == c).sum()) for c in CLASSES]
        col.update(dict(zip(CLASSES, counts)))
        mix.append(counts)
        cols[ds] = col
    chars = list(next(iter(cols.values())))
    P = pub.load(STUDY)
    pub_key = {"vertebrae": ("vertebrae", "vertebrae"), "patients": ("patients", "count"),
               "age mean": ("age", "mean"), "age sd": ("age", "sd"), "male": ("male", "count"),
               "female": ("female", "count"), **{c: (c, "count") for c in CLASSES}}

    def test_p(rows):
        m = np.asarray(rows, float)
        m = m[:, m.sum(axis=0) > 0]
        m = m[m.sum(axis=1) > 0]
        if m.shape[0] < 2 or m.shape[1] < 2:
            return np.nan
        return float(chi2_contingency(m)[1])
    tests = {c: ("chi-square, class mix (vertebrae)", test_p(mix)) for c in CLASSES}
    if has_sex:
        tests.update({s_: ("chi-square, sex (patients)", test_p(sexes)) for s_ in ("male", "female")})
    if has_age:
        usable = [a for a in ages if len(a) > 1]
        p_age = float(f_oneway(*usable).pvalue) if len(usable) >= 2 else np.nan
        tests.update({k: ("one-way ANOVA, age (patients)", p_age) for k in ("age mean", "age sd")})
    rows = []
    for ch in chars:
        r = {"characteristic": ch}
        for ds in cols:
            pname = T1_NAMES.get(ds) or published_name(ds, ext) or ""
            r[ds] = cols[ds][ch]
            column, quantity = pub_key[ch]
            r[f"{ds} (published {pname})" if pname else f"{ds} (published)"] = (
                P.value(pname, column, quantity) if pname else np.nan)
        test, pv = tests.get(ch, ("", np.nan))
        r["statistical_test"], r["p_value"] = test, (float(f"{pv:.4g}") if np.isfinite(pv) else np.nan)
        rows.append(r)
    df = pd.DataFrame(rows).astype(object)
    counts = ~df["characteristic"].str.startswith("age")
    for c in df.columns[1:-2]:
        df.loc[counts, c] = [int(v) if pd.notna(v) else v for v in df.loc[counts, c]]
    md = ("# xu2023_vcf: Table 1, cohort characteristics by dataset\n\nReproduced beside published "
          f"({P.citation}, Table 1). Vertebrae and class counts per vertebra; patients, age (mean, SD) and "
          "sex per patient. Tests across all datasets: chi-square of the class mix (vertebrae) and of "
          "sex (patients), one-way ANOVA of age (patients); the paper gives P < 0.05 for age and sex "
          "and no test for the class mix. The paper's training and testing columns are the 8:2 "
          "development split; external sites matched to the paper's in sorted order.\n\n"
          + pub.markdown(df) + "\n")
    return df, md


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


READER_COLUMNS = ["reader", "condition", "n", "n_patients", "accuracy", "accuracy_ci95", "accuracy_published",
                  "sensitivity", "sensitivity_ci95", "sensitivity_published", "specificity", "specificity_ci95",
                  "specificity_published", "precision", "f1", "top1_accuracy", "ci_method", "mcnemar_p"]
SKIPPED = ("reader study skipped: the manifest has no reader columns "
           "(reader_<name>_alone and reader_<name>_with_model with acute/chronic/pathologic "
           "labels on the collaboration subset)")


def _reader_subset(table: pd.DataFrame, pred: pd.DataFrame, readers: dict) -> pd.DataFrame:
    cols = sorted({c for pair in readers.values() for c in pair})
    sub = pred.merge(table[["case_id", "level"] + cols], on=["case_id", "level"])
    sub = sub[sub[cols].notna().all(axis=1)].reset_index(drop=True)
    if sub.empty:
        raise InputError("reader columns present but no evaluated vertebra has all reader labels",
                         field=cols[0])
    for c in cols:
        bad = sorted(set(sub[c]) - set(CLASSES))
        if bad:
            raise InputError(f"reader labels {bad} are not {CLASSES}", field=c)
    return sub


def reader_study(table: pd.DataFrame, pred: pd.DataFrame, n_boot: int = 1000, seed: int = 0):
    """Collaboration table (Table 3 layout) and McNemar per reader (alone vs with the model).
    Gives (table, Markdown, message).

    Per reader and condition (the model alone first): the paper's overall row
    (:func:`paper_overall`: micro accuracy, sensitivity, specificity, with CIs from a cluster
    bootstrap of patients where they repeat; weighted precision and F1), top-1 accuracy, and
    per class AUC and sensitivity (a reader's one-hot labels are their scores, as the paper's
    reader AUCs); McNemar (with vs alone) on per-vertebra correctness. Optional input:
    without reader columns (reader_<name>_alone, reader_<name>_with_model, holding vcf labels
    on the collaboration subset) the table is empty and the message says why, not an error.
    """
    from ...stats.paired import mcnemar
    readers = reader_columns(table)
    if not readers:
        return (pd.DataFrame(columns=READER_COLUMNS), f"# xu2023_vcf reader study\n\n{SKIPPED}\n", SKIPPED)
    sub = _reader_subset(table, pred, readers)
    y = class_index(sub["truth"], CLASSES)
    g = patients(sub)
    P = pub.load(STUDY)
    rows = []

    def summarise(who, cond, probs, correct_alone=None, correct=None):
        met = ovr_metrics(y, probs, n_boot, seed, groups=g)
        ov = met["overall"]
        r = {"reader": who, "condition": cond, "n": len(y), "n_patients": int(len(np.unique(g)))}
        for m in ("accuracy", "sensitivity", "specificity", "precision", "f1"):
            r[m] = round(100 * ov[m][0], 1)
            if m in ("accuracy", "sensitivity", "specificity"):
                r[f"{m}_ci95"] = _ci_text(100 * ov[m][1], 100 * ov[m][2], 1)
                r[f"{m}_published"] = P.value(who, cond, m)
        r["top1_accuracy"] = round(100 * met["_top1"][0], 1)
        r["ci_method"] = met["_method"]
        for c in CLASSES:
            r[f"auc_{c}"] = round(met[c]["auc"][0], 3) if np.isfinite(met[c]["auc"][0]) else np.nan
            r[f"sensitivity_{c}"] = (round(100 * met[c]["sensitivity"][0], 1)
                                     if np.isfinite(met[c]["sensitivity"][0]) else np.nan)
        if correct_alone is not None:
            # no discordant vertebra: the two conditions agree everywhere (p = 1)
            r["mcnemar_p"] = (mcnemar(correct_alone, correct)["p"] if (correct_alone != correct).any() else 1.0)
        rows.append(r)

    summarise("model", "alone", sub[prob_columns(CLASSES)].to_numpy(float))
    for name, (ca, cw) in readers.items():
        Pa, Pw = np.eye(3)[class_index(sub[ca], CLASSES)], np.eye(3)[class_index(sub[cw], CLASSES)]
        summarise(name, "alone", Pa)
        summarise(name, "with_model", Pw, (Pa.argmax(1) == y).astype(int), (Pw.argmax(1) == y).astype(int))
    df = pd.DataFrame(rows)
    md = ("# xu2023_vcf reader study (Table 3 layout)\n\nOverall columns as the paper's (one-vs-rest "
          "counts pooled over the classes; precision and F1 support-weighted), 95% CIs by "
          f"{df['ci_method'].iloc[0] or 'none'} ({n_boot} resamples, seed {seed}). Reader AUCs from their "
          "one-hot labels, as the paper's; McNemar (with vs alone) on per-vertebra correctness.\n\n"
          + pub.markdown(df) + "\n")
    return df, md, f"reader study: {len(readers)} reader(s), {len(sub)} vertebrae"


def reader_figure(table: pd.DataFrame, pred: pd.DataFrame, path) -> str:
    """Fig 6: per class, the model's one-vs-rest ROC curve on the collaboration subset with each
    reader's operating point alone (triangle) and with the model (star), the model's argmax
    point (dot). Without reader columns a panel that says the study was skipped."""
    from sklearn.metrics import roc_curve

    from ...evaluate.figures import pyplot, save
    plt = pyplot()
    readers = reader_columns(table)
    if not readers:
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, SKIPPED, ha="center", va="center", wrap=True, fontsize=8)
        save(fig, path)
        return SKIPPED
    sub = _reader_subset(table, pred, readers)
    y = class_index(sub["truth"], CLASSES)
    probs = sub[prob_columns(CLASSES)].to_numpy(float)
    fig, axes = plt.subplots(1, len(CLASSES), figsize=(4 * len(CLASSES), 4), squeeze=False)

    def point(ax, q, k, **kw):
        pos = y == k
        sens = (q[pos] == k).mean() if pos.any() else np.nan
        spec = (q[~pos] != k).mean() if (~pos).any() else np.nan
        ax.plot(1 - spec, sens, linestyle="none", **kw)

    for k, (ax, c) in enumerate(zip(axes[0], CLASSES)):
        t = (y == k).astype(int)
        if 0 < t.sum() < len(t):
            fpr, tpr, _ = roc_curve(t, probs[:, k])
            ax.plot(fpr, tpr, color="red", lw=1, label="model ROC")
        point(ax, probs.argmax(1), k, marker="o", color="red", label="model")
        for i, (name, (ca, cw)) in enumerate(readers.items()):
            col = f"C{i}"
            point(ax, class_index(sub[ca], CLASSES), k, marker="^", color=col, label=f"{name}")
            point(ax, class_index(sub[cw], CLASSES), k, marker="*", markersize=10, color=col,
                  label=f"{name} + model")
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set_title(f"{c} (n={int(t.sum())} of {len(t)})", fontsize=9)
        ax.set_xlabel("1 - specificity")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
    axes[0, 0].set_ylabel("sensitivity")
    axes[0, -1].legend(loc="lower right", fontsize=7)
    fig.suptitle("Collaboration subset: readers alone (triangle) and with the model (star)", fontsize=9)
    save(fig, path)
    return f"reader figure: {len(readers)} reader(s)"


# the tables the reproduction verdict reads (results/xu2023_vcf/...)
REPRODUCTION_INPUTS = ("table2.csv", "table1.csv")


def reproduced_long(results) -> pd.DataFrame:
    """This study's reproduced numbers in the verdict's long form (vfrepro.evaluate.verdict):
    from ``table2.csv`` (percent as the paper, AUC as a fraction), each with the CI of the
    table (cluster bootstrap of patients where they repeat: column ci_method) where it has
    one; without a CI, per class accuracy (denominator: the dataset), sensitivity (the
    class) and specificity (the other classes) carry their denominators. The macro row has
    no published counterpart and is left out. A class without cases: 'class absent'."""
    from pathlib import Path
    t = pd.read_csv(Path(results) / "table2.csv", keep_default_na=False, na_values=[""])
    t = t[t["published_dataset"].notna() & (t["published_dataset"].astype(str) != "") & (t["class"] != "macro")]
    rows = []
    for ds, d in t.groupby("published_dataset", sort=False):
        n_all = int(d.loc[d["class"] == "overall", "n"].iloc[0])
        for r in d.to_dict("records"):
            c, n_c = str(r["class"]), int(r["n"])
            absent = "class absent from the dataset" if c != "overall" and n_c == 0 else ""
            for m in TABLE_METRICS:
                row = {"row": str(ds), "column": c, "quantity": m, "value": r[f"{m}_reproduced"],
                       "scale": 1.0 if m == "auc" else 100.0, "reason": absent}
                ci = str(r.get(f"{m}_ci95_reproduced") or "")
                if "-" in ci and ci != "nan":
                    lo, hi = ci.split("-", 1)
                    row.update(ci_low=float(lo), ci_high=float(hi), ci_method=str(r.get("ci_method") or ""))
                elif c != "overall":
                    row["n"] = {"accuracy": n_all, "sensitivity": n_c, "specificity": n_all - n_c}.get(m)
                elif not absent:
                    row["reason"] = "the paper's overall precision / F1 (support-weighted): no CI"
                rows.append(row)
    rows += _table1_long(Path(results) / "table1.csv")
    return pd.DataFrame(rows)


def _table1_long(path) -> list[dict]:
    """Table 1's reproduced characteristics, keyed like its published records: fixed by the
    cohort, not estimated (no verdict)."""
    from pathlib import Path
    if not Path(path).is_file():
        return []
    t1 = pd.read_csv(path)
    key = {"vertebrae": ("vertebrae", "vertebrae"), "patients": ("patients", "count"), "age mean": ("age", "mean"),
           "age sd": ("age", "sd"), "male": ("male", "count"), "female": ("female", "count"),
           **{c: (c, "count") for c in CLASSES}}
    rows = []
    for col in t1.columns:
        if " (published " not in col:
            continue
        ds, pname = col.split(" (published ", 1)[0], col.split(" (published ", 1)[1].rstrip(")")
        for r in t1.to_dict("records"):
            if r["characteristic"] in key and ds in r:
                column, quantity = key[r["characteristic"]]
                rows.append({"row": pname, "column": column, "quantity": quantity, "value": r[ds], "scale": 1.0,
                             "reason": "a cohort characteristic (Table 1), fixed by the cohort, not an estimate"})
    return rows


# one predictions file per run (``vfrepro tables`` CSV)
PREDICTION_MODELS = ("resnet18",)


def from_predictions(paths: dict, out, cfg: dict, infos: dict | None = None) -> list[str]:
    """The evaluate stage's files from the predictions file (its own command; no manifest, so
    no Table 1). ``cfg``: ``n_boot``, ``seed`` (the stage's config keys; default 1000, 0)."""
    import argparse
    from .cli import _evaluate
    _evaluate(argparse.Namespace(predictions=str(next(iter(paths.values()))), out=str(out),
                                 infos=[str(v) for v in infos.values()] if infos else None,
                                 n_boot=int(cfg.get("n_boot", 1000)), seed=int(cfg.get("seed", 0)),
                                 manifest=None, cases=None, cohort=str(cfg.get("cohort", ""))))
    return ["table2.csv", "table2.md", "roc_curves.png", "confusion_matrices.png", "chosen.csv"]


def chosen_table(cfg: dict, cohort: str = "", train_cfg: dict | None = None) -> pd.DataFrame:
    """chosen.csv: the study's and the tables' CHOSEN lists, the training config the model was
    fitted with (its train_info.json), the synthetic-cohort note when cohort.source is synthetic,
    then the evaluate stage's config."""
    from ...evaluate import chosen
    from . import study
    extra = [("tables", *SYNTHETIC)] if cohort == "synthetic" else []
    extra += [("train_info", f"train.{k}", v, "training setting in force (train_info.json)")
              for k, v in sorted((train_cfg or {}).items()) if k in ("epochs", "batch_size", "lr", "optimizer",
                                                                      "weight_decay", "scheduler", "class_weights")]
    import sys
    return chosen.table([study, sys.modules[__name__]], cfg, extra=extra)
