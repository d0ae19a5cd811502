"""qu2025_mil's evaluation: accuracy (95% CI over patients: cluster bootstrap, Wilson when each
patient has one vertebra), per-class accuracy (Fig 4A-C), precision /
recall / F1, confusion matrices, label distributions (Fig 2A-C), attention per slice and the
instance-level AUCs, published beside reproduced; the Grad-CAM case picks; the reader study.

Figures: the confusion matrices are vfrepro.evaluate.figures.confusion_figure; the per-class
bar chart and the label-distribution chart (which the evaluation package has no function for)
are drawn here with its ``pyplot`` / ``save`` helpers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...evaluate import published as pub
from ...evaluate.figures import ConfusionPanel, pyplot, save
from ...evaluate.schema import patients, prob_columns
from . import labels as L
from . import metrics as M
from .study import CLASSES, STUDY

__all__ = ["predictions_frame", "slices_frame", "ensemble_frame", "evaluate", "label_distribution",
           "per_class_figure", "distribution_figure", "confusion_panels", "gradcam_picks",
           "reader_study", "GRADCAM_PAIRS", "READER_SKIPPED"]

VIEW_NAMES = {"S": "S (axial)", "Z": "Z (coronal)", "ensemble": "ensemble"}
# The paper's Grad-CAM figures: (view, true, predicted).
GRADCAM_PAIRS = [("S", "A0", "A0"), ("S", "A0", "AZ"), ("S", "AZ", "AZ"), ("S", "AZ", "A0"),
                 ("Z", "A3", "A3"), ("Z", "A3", "A4"), ("Z", "A4", "A4"), ("Z", "A4", "A3")]


def predictions_frame(meta: pd.DataFrame, view: str, probs: np.ndarray) -> pd.DataFrame:
    """Predictions in the evaluation schema (truth = the view's bag label; dataset = the row's
    manifest split, every row is a validation row)."""
    df = meta[["case_id", "patient", "mask_label", "level", "split", "site", "ao_type"]].reset_index(drop=True).copy()
    df["dataset"] = "validation"
    df["view"] = view
    df["truth"] = meta[f"{view}_label"].to_numpy()
    P = np.asarray(probs, float)
    P = P / P.sum(axis=1, keepdims=True)
    for k, c in enumerate(prob_columns(CLASSES)):
        df[c] = P[:, k]
    df["pred"] = np.asarray(CLASSES)[P.argmax(axis=1)]
    return df


def slices_frame(meta: pd.DataFrame, view: str, arrays: dict, rows, out: dict) -> pd.DataFrame:
    """One row per slice of each validation bag: its plane, planted instance label (-1
    unknown), attention weight and instance-head score."""
    inst = arrays[f"{view}_instance"][rows]
    pos = arrays[f"{view}_positions"][rows]
    recs = []
    m = meta.reset_index(drop=True)
    for i in range(len(rows)):
        for k in range(inst.shape[1]):
            recs.append({"case_id": m.loc[i, "case_id"], "mask_label": int(m.loc[i, "mask_label"]),
                         "view": view, "bag_label": m.loc[i, f"{view}_label"], "slice": k,
                         "plane_index": int(pos[i, k]), "instance_label": int(inst[i, k]),
                         "attention": float(out["attention"][i, k]),
                         "instance_score": float(out["instance"][i, k])})
    return pd.DataFrame(recs)


def ensemble_frame(s: pd.DataFrame, z: pd.DataFrame) -> pd.DataFrame:
    """The paper's rule on the two views' predictions (same vertebrae, same order): Z's
    prediction, S's where Z says AZ (or A0). Truth is the case's AO type; the probabilities are
    those of the view that decided."""
    key = ["case_id", "mask_label"]
    if not (s[key].to_numpy() == z[key].to_numpy()).all():
        raise ValueError("S and Z predictions are not for the same vertebrae in the same order")
    pred = L.ensemble_indices([L.class_index(v) for v in s["pred"]], [L.class_index(v) for v in z["pred"]])
    use_s = np.isin(z["pred"].to_numpy(), [L.AZ, L.A0])
    out = z.copy()
    out["view"] = "ensemble"
    out["truth"] = [L.case_label(a) for a in z["ao_type"]]
    cols = prob_columns(CLASSES)
    out[cols] = np.where(use_s[:, None], s[cols].to_numpy(float), z[cols].to_numpy(float))
    out["pred"] = np.asarray(CLASSES)[pred]
    out["decided_by"] = np.where(use_s, "S", "Z")
    return out


def _idx(values) -> np.ndarray:
    return np.array([L.class_index(v) for v in values], int)




def _ci_method(a: dict, n_boot: int, seed: int) -> str:
    if a["method"] == "cluster bootstrap":
        return f"cluster bootstrap over {a['n_patients']} patients ({n_boot} resamples, seed {seed})"
    return "Wilson score (statsmodels proportion_confint; one vertebra per patient)"


def evaluate(preds: dict[str, pd.DataFrame], slices: dict[str, pd.DataFrame], auc_ci: str = "delong",
             n_boot: int = 1000, seed: int = 0) -> dict:
    """Every table of the evaluate stage, from the per-view predictions (S, Z, ensemble) and
    the per-slice attention tables (S, Z)."""
    published = pub.load(STUDY)
    acc, per, cms = [], [], {}
    for view in ("S", "Z", "ensemble"):
        p = preds[view]
        y, q = _idx(p["truth"]), _idx(p["pred"])
        summ = M.classification_summary(y, q, groups=patients(p), n_boot=n_boot, seed=seed)
        a = summ["accuracy"]
        counts = np.bincount(y, minlength=len(CLASSES))
        acc.append({"row": view, "column": "validation", "quantity": "accuracy", "view": VIEW_NAMES[view],
                    "n": a["n"], "correct": a["correct"], "value": a["accuracy"], "ci_low": a["ci_low"],
                    "ci_high": a["ci_high"], "ci_method": _ci_method(a, n_boot, seed), "n_patients": a["n_patients"],
                    "wilson_ci_low": a["wilson_ci_low"], "wilson_ci_high": a["wilson_ci_high"],
                    "majority_class": CLASSES[int(counts.argmax())],
                    "majority_rate": float(counts.max() / counts.sum())})
        t = summ["per_class"].copy()
        t.insert(0, "view", view)
        t["row"] = [f"{view} class {c}" if c != "macro" else f"{view} macro" for c in t["class"]]
        t["column"], t["quantity"] = "validation", "accuracy"
        t["value"] = t["accuracy"]
        per.append(t)
        cms[view] = summ["confusion"]
    acc = pub.beside(pd.DataFrame(acc), published)
    per = pub.beside(pd.concat(per, ignore_index=True), published)
    per = per.drop(columns=["row", "column", "quantity", "value"])
    auc_rows, notes = [], []
    for view in ("S", "Z"):
        # bag -> patient, so that the instance AUC's CI resamples patients with all their slices
        who = {(str(c), int(m)): str(g) for c, m, g in zip(preds[view]["case_id"], preds[view]["mask_label"],
                                                         patients(preds[view]))}
        s = slices[view]
        s = s[s["instance_label"] >= 0]
        n_frac = int(s.groupby(["case_id", "mask_label"])["instance_label"].max().sum()) if len(s) else 0
        for what, col in (("attention weight", "attention"), ("instance head 1 - p(AZ)", "instance_score")):
            if s.empty:
                auc_rows.append({"view": view, "score": what, "auc": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                                 "ci_method": "", "n_bags": 0, "n_patients": 0, "n_slices": 0, "n_positive": 0,
                                 "note": "no instance labels: skipped"})
                continue
            wp = s.pivot_table(index=["case_id", "mask_label"], columns="slice", values=col)
            w = wp.to_numpy()
            y = s.pivot_table(index=["case_id", "mask_label"], columns="slice", values="instance_label").to_numpy()
            groups = [who.get((str(c), int(m)), str(c)) for c, m in wp.index]
            res = M.instance_auc(w, y, method=auc_ci, n_boot=n_boot, seed=seed, groups=groups)
            frac = (y == 1).any(axis=1)
            yy = y[frac]
            if res is None:
                note = (f"undefined: in the {int(frac.sum())} fractured bags every slice shows the fracture "
                        "(no negative slice)" if frac.any() else "undefined: no fractured bag")
                auc_rows.append({"view": view, "score": what, "auc": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                                 "ci_method": "", "n_bags": int(frac.sum()),
                                 "n_patients": len({groups[i] for i in np.flatnonzero(frac)}),
                                 "n_slices": int(yy.size), "n_positive": int((yy == 1).sum()),
                                 "note": note})
            else:
                mixed = int(((yy == 0).any(axis=1)).sum())
                cim = (f"{res['method']} over {res['n_groups']} patients ({n_boot} resamples, seed {seed}; a "
                       "patient's bags and slices drawn together)" if res["method"] == "cluster bootstrap"
                       else f"{res['method']} on pooled slices (one known slice per bag)")
                auc_rows.append({"view": view, "score": what, "auc": res["auc"], "ci_low": res["ci_low"],
                                 "ci_high": res["ci_high"], "ci_method": cim, "n_bags": res["n_bags"],
                                 "n_patients": res["n_groups"], "n_slices": int(yy.size),
                                 "n_positive": int((yy == 1).sum()),
                                 "note": f"fractured bags only; {mixed} of them have slices without the fracture"
                                         + (f"; {res['note']}" if res["note"] else "")})
        if n_frac == 0:
            notes.append(f"{view}: no fractured validation bag with instance labels")
    return {"accuracy": acc, "per_class": per, "confusion": cms, "instance_auc": pd.DataFrame(auc_rows),
            "notes": notes, "published": published}


def label_distribution(meta: pd.DataFrame, role: np.ndarray) -> pd.DataFrame:
    """Counts per class of the S, Z bag labels and the case labels (AO type), train vs
    validation (the paper's Fig 2A-C)."""
    rows = []
    for r in ("train", "validation"):
        m = meta[role == r]
        for what, col in (("S", "S_label"), ("Z", "Z_label"), ("case", "ao_type")):
            counts = m[col].value_counts()
            for c in CLASSES:
                rows.append({"set": r, "labels": what, "class": c, "index": L.class_index(c),
                             "n": int(counts.get(c, 0))})
    return pd.DataFrame(rows)


def confusion_panels(cms: dict) -> list[ConfusionPanel]:
    return [ConfusionPanel(f"{VIEW_NAMES[v]} (row-normalised)", cm.to_numpy(), list(cm.columns))
            for v, cm in cms.items()]


def per_class_figure(per: pd.DataFrame, path) -> None:
    """Fig 4A-C: class-specific accuracy per view, reproduced beside published."""
    plt = pyplot()
    views = ["S", "Z", "ensemble"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
    x = np.arange(len(CLASSES))
    for ax, v in zip(axes, views):
        t = per[(per["view"] == v) & (per["class"] != "macro")]
        t = t.set_index(t["class"].astype(int)).reindex(range(len(CLASSES)))
        ax.bar(x - 0.2, t["accuracy"].to_numpy(float), 0.4, label="reproduced")
        ax.bar(x + 0.2, t["published"].to_numpy(float), 0.4, label="published")
        ax.set_xticks(x, [f"{k}\n{c}" for k, c in enumerate(CLASSES)], fontsize=7)
        ax.set_title(f"{VIEW_NAMES[v]}: per-class accuracy", fontsize=9)
        ax.set_ylim(0, 1.05)
    axes[0].set_ylabel("accuracy (recall of the class)")
    axes[0].legend(fontsize=7)
    save(fig, path)


def distribution_figure(dist: pd.DataFrame, path) -> None:
    """Fig 2A-C: label distributions of the S, Z and case labels, train vs validation."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), sharey=True)
    x = np.arange(len(CLASSES))
    for ax, what in zip(axes, ("S", "Z", "case")):
        for off, r in ((-0.2, "train"), (0.2, "validation")):
            t = dist[(dist["labels"] == what) & (dist["set"] == r)].sort_values("index")
            ax.bar(x + off, t["n"].to_numpy(), 0.4, label=r)
        ax.set_xticks(x, CLASSES, fontsize=7)
        ax.set_title({"S": "S bag labels", "Z": "Z bag labels", "case": "case labels (AO type)"}[what], fontsize=9)
    axes[0].set_ylabel("vertebrae")
    axes[0].legend(fontsize=7)
    save(fig, path)


def gradcam_picks(preds: dict[str, pd.DataFrame], per_pair: int) -> pd.DataFrame:
    """Up to ``per_pair`` validation bags for each of the paper's (view, true, predicted) pairs,
    most confident first; a pair that does not occur is listed with n_found 0."""
    rows = []
    for view, t, p in GRADCAM_PAIRS:
        d = preds[view]
        hit = d[(d["truth"] == t) & (d["pred"] == p)]
        hit = hit.assign(conf=hit[f"prob_{p}"]).sort_values("conf", ascending=False).head(per_pair)
        if hit.empty:
            rows.append({"view": view, "true": t, "pred": p, "n_found": 0, "case_id": "", "mask_label": -1})
        for r in hit.itertuples():
            rows.append({"view": view, "true": t, "pred": p, "n_found": len(hit), "case_id": r.case_id,
                         "mask_label": int(r.mask_label)})
    return pd.DataFrame(rows)


READER_SKIPPED = ("reader study skipped: the manifest has no reader columns (reader_<name>_alone and "
                  "reader_<name>_with_model holding AO types A0-A4 / AZ on the reader-study subset, "
                  "optional reader_<name>_group, e.g. intern / senior)")


def reader_study(table: pd.DataFrame) -> tuple[pd.DataFrame, str, str]:
    """Per reader: accuracy (Wilson 95% CI) alone and with the model on the cases read in both
    conditions, and the paired t-test of per-case correctness (with vs alone; R's
    t.test(paired=TRUE), vfrepro.stats.paired). Per group (reader_<name>_group, else 'readers'):
    the pooled accuracies and, with 2+ readers, the paired t-test of the readers' accuracies.
    Gives (table, Markdown, message); without reader columns an empty table and the skip message."""
    from ...stats.paired import paired_t
    readers = {}
    for c in table.columns:
        if c.startswith("reader_") and c.endswith("_alone"):
            name = c[len("reader_"):-len("_alone")]
            if f"reader_{name}_with_model" in table.columns:
                readers[name] = (c, f"reader_{name}_with_model")
    cols = ["group", "reader", "condition", "n", "accuracy", "ci_low", "ci_high", "published",
            "t_test_p", "t_test_mean_diff", "note"]
    if not readers:
        return pd.DataFrame(columns=cols), f"# qu2025_mil reader study\n\n{READER_SKIPPED}\n", READER_SKIPPED
    published = pub.load(STUDY)
    rows, groups = [], {}
    for name, (ca, cw) in sorted(readers.items()):
        d = table[table[ca].notna() & table[cw].notna()]
        gcol = f"reader_{name}_group"
        group = str(d[gcol].dropna().iloc[0]) if gcol in d.columns and d[gcol].notna().any() else "readers"
        truth = d["ao_type"].astype(str).to_numpy()
        ok_a = (d[ca].astype(str).to_numpy() == truth).astype(float)
        ok_w = (d[cw].astype(str).to_numpy() == truth).astype(float)
        try:
            t = paired_t(ok_w, ok_a)
            tp, md, note = t["p"], t["mean_diff"], "paired t-test of per-case correctness, with - alone"
        except ValueError as exc:
            tp, md, note = np.nan, float((ok_w - ok_a).mean()) if len(d) else np.nan, f"no t-test: {exc}"
        for cond, ok in (("alone", ok_a), ("with model", ok_w)):
            if len(ok) == 0:
                continue
            a = M.accuracy_ci(np.ones(len(ok)), ok)
            rows.append({"group": group, "reader": name, "condition": cond, "n": a["n"], "accuracy": a["accuracy"],
                         "ci_low": a["ci_low"], "ci_high": a["ci_high"], "published": np.nan,
                         "t_test_p": tp if cond == "with model" else np.nan,
                         "t_test_mean_diff": md if cond == "with model" else np.nan,
                         "note": note if cond == "with model" else ""})
        groups.setdefault(group, []).append((ok_a.mean() if len(ok_a) else np.nan, ok_w.mean() if len(ok_w) else np.nan))
    pubrow = {"interns": ("interns", "interns with model"), "intern": ("interns", "interns with model"),
              "senior": ("senior physicians", None), "seniors": ("senior physicians", None)}
    for group, accs in groups.items():
        a = np.array(accs, float)
        p_alone, p_with = pubrow.get(group, (None, None))
        tp, note = np.nan, "paired t-test over readers needs 2+ readers"
        if len(a) >= 2:
            try:
                tp, note = paired_t(a[:, 1], a[:, 0])["p"], "paired t-test of the readers' accuracies, with - alone"
            except ValueError as exc:
                note = f"no t-test: {exc}"
        for cond, k, pname in (("alone", 0, p_alone), ("with model", 1, p_with)):
            rows.append({"group": group, "reader": "(group mean)", "condition": cond, "n": len(a),
                         "accuracy": float(np.nanmean(a[:, k])), "ci_low": np.nan, "ci_high": np.nan,
                         "published": published.value(pname, "reader study", "accuracy") if pname else np.nan,
                         "t_test_p": tp if k == 1 else np.nan, "t_test_mean_diff": np.nan,
                         "note": note if k == 1 else ""})
    df = pd.DataFrame(rows, columns=cols)
    md = ("# qu2025_mil reader study\n\nAccuracy with Wilson 95% CI per reader, alone and with the model, "
          "on the cases each read in both conditions; paired t-tests (R t.test(paired = TRUE)). Published "
          f"(group rows): {published.source}.\n\n" + pub.markdown(df.round(4)) + "\n")
    return df, md, f"reader study: {len(readers)} reader(s) in {len(groups)} group(s)"


# the tables the reproduction verdict reads (results/qu2025_mil/...)
REPRODUCTION_INPUTS = ("accuracy.csv", "per_class.csv")


def reproduced_long(results) -> pd.DataFrame:
    """This study's reproduced numbers in the verdict's long form (vfrepro.evaluate.verdict):
    the validation accuracy per view with its CI (``accuracy.csv``: patients resampled, or Wilson) and the
    class-specific accuracy per view and class with its denominator, the class's validation
    bags (``per_class.csv``; a class without bags: 'class absent'). The reader study and
    the cohort's counts and settings are not estimated here."""
    from pathlib import Path
    acc = pd.read_csv(Path(results) / "accuracy.csv")
    per = pd.read_csv(Path(results) / "per_class.csv", dtype={"class": str})
    rows = [{"row": str(r["row"]), "column": "validation", "quantity": "accuracy", "value": r["value"],
             "ci_low": r["ci_low"], "ci_high": r["ci_high"], "ci_method": str(r.get("ci_method") or "Wilson score"),
             "n": r["n"]}
            for r in acc.to_dict("records")]
    for r in per.to_dict("records"):
        if r["class"] == "macro":
            continue
        n = int(r["support"])
        rows.append({"row": f"{r['view']} class {r['class']}", "column": "validation", "quantity": "accuracy",
                     "value": r["accuracy"] if n else np.nan, "n": n,
                     "reason": "" if n else "class absent from the validation bags"})
    return pd.DataFrame(rows)


# the predictions files of one run, one per view (``vfrepro tables`` S=CSV Z=CSV; the ensemble is
# built from the two); the evaluate stage's other inputs, optional here (``vfrepro tables`` options)
PREDICTION_MODELS = ("S", "Z")
PREDICTION_EXTRAS = ("slices", "bag_table")


def from_predictions(paths: dict, out, cfg: dict, infos: dict | None = None, extras: dict | None = None) -> list[str]:
    """The evaluate stage's files from the S and Z predictions files (its own command: nothing
    recomputed differently): accuracy, per-class, confusion, the ensemble. ``extras``: ``slices``
    (S and Z slices.csv: instance AUC, attention) and ``bag_table`` (bags.csv: label
    distributions); ``infos``: train_info.json of S and Z (chosen.csv). Without them those
    outputs are skipped with a printed line. ``cfg``: the stage's keys (seed, evaluate.*)."""
    import argparse
    import json

    from ...errors import InputError
    from .cli import _evaluate
    extras = extras or {}
    for what, given, opt in (("--predictions", paths, "S=FILE Z=FILE"), ("--infos", infos, "S=FILE Z=FILE"),
                             ("--slices", extras.get("slices"), "S=FILE Z=FILE")):
        if given and (not isinstance(given, dict) or set(given) != set(PREDICTION_MODELS)):
            raise InputError(f"qu2025_mil needs {what} for both views ({opt}); got "
                             f"{sorted(given) if isinstance(given, dict) else str(given)}", field=what)
    slices = extras.get("slices")
    _evaluate(argparse.Namespace(predictions=[str(paths[v]) for v in PREDICTION_MODELS],
                                 slices=[str(slices[v]) for v in PREDICTION_MODELS] if slices else None,
                                 infos=[str(infos[v]) for v in PREDICTION_MODELS] if infos else None,
                                 bag_table=str(extras["bag_table"]) if extras.get("bag_table") else None,
                                 cfg=json.dumps(cfg), out=str(out)))
    return ["accuracy.csv", "per_class.csv", "confusion.csv", "predictions_ensemble.csv", "summary.md"]
