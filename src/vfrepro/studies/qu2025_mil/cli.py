"""`vfrepro qu2025_mil {bags,train,evaluate,gradcam,reader-study}`: reads the inputs, writes
every output file. Each stage is one Snakemake rule (workflow/rules/studies/qu2025_mil/)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..cli_common import guard, need, parse_cfg, read_csv, read_manifest, study_parser, write_json, write_table
from .study import STUDY


def _bags(a):
    from . import study as S
    cfg = parse_cfg(a.cfg)
    table = read_manifest(a.manifest, a.cases)
    arrays, meta, messages = S.build_bags(table, a.preprocess_dir, cfg)
    S.save_bags(a.out, arrays, meta)
    write_table(meta, a.table)
    for m in messages:
        print(m)
    if not meta["has_instance_labels"].any():
        print("qu2025_mil: no lesion map in the manifest: instance labels unknown; the instance-level "
              "outputs (attention AUC) are skipped")
    print(json.dumps({"vertebrae": len(meta), "cases": int(meta["case_id"].nunique()),
                      "with_instance_labels": int(meta["has_instance_labels"].sum())}))


def _train(a):
    import torch

    from . import study as S
    from . import tables as T
    cfg = parse_cfg(a.cfg)
    torch.set_num_threads(max(1, a.threads))
    arrays, meta = S.load_bags(a.bags)
    role = S.roles(meta, cfg)
    tr, va = np.flatnonzero(role == "train"), np.flatnonzero(role == "validation")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    res, init = S.fit_view(a.view, S.view_bags(arrays, meta, a.view, tr), cfg, log_csv=out / "epoch_log.csv",
                           progress=not a.no_progress)
    torch.save(res.model.state_dict(), out / "model.pt")
    pred = S.predict_view(res.model, a.view, S.view_bags(arrays, meta, a.view, va), cfg)
    vm = meta.iloc[va].reset_index(drop=True)
    write_table(T.predictions_frame(vm, a.view, pred["bag"]), out / "predictions.csv")
    write_table(T.slices_frame(vm, a.view, arrays, va, pred), out / "slices.csv")
    info = {"study": STUDY, "view": a.view, "init": init, "n_train": int(len(tr)), "n_validation": int(len(va)),
            "train_cases": sorted(meta["case_id"].iloc[tr].unique().tolist()),
            "epochs_run": len(res.history), "device": res.device, "seconds": round(res.seconds, 2),
            "train_accuracy_final": res.history[-1]["train_accuracy"] if res.history else None,
            "split": dict(cfg.get("split", {}))}
    write_json(info, out / "train_info.json")
    print(json.dumps({k: v for k, v in info.items() if k != "train_cases"}, default=str))


def _chosen(cfg: dict, infos: list[dict]) -> pd.DataFrame:
    from . import chosen_table
    rows = chosen_table()
    flat = pd.json_normalize(cfg, sep=".").iloc[0].to_dict() if cfg else {}
    cfg_rows = [("config", f"qu2025_mil.{k}", json.dumps(v, default=str), "from config: not published "
                 "(or a CPU-demo size; the paper preset restores the published ones)") for k, v in sorted(flat.items())]
    init = "; ".join(f"{i.get('view')}: {i.get('init')}" for i in infos)
    cfg_rows.append(("config", "backbone_init", init, "no local weights file named in qu2025_mil.weights -> "
                     "random init" if "random" in init else "local weights file from qu2025_mil.weights"))
    return pd.concat([rows, pd.DataFrame(cfg_rows, columns=rows.columns)], ignore_index=True)


def _evaluate(a):
    from ...evaluate.figures import confusion_figure
    from ...evaluate.schema import read
    from . import study as S
    from . import tables as T
    cfg = parse_cfg(a.cfg)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    preds = {v: read(p, S.CLASSES) for v, p in (("S", a.predictions[0]), ("Z", a.predictions[1]))}
    preds["ensemble"] = T.ensemble_frame(preds["S"], preds["Z"])
    write_table(preds["ensemble"], out / "predictions_ensemble.csv")
    if a.slices:
        slices = {v: read_csv(p, dtype={"case_id": str}) for v, p in (("S", a.slices[0]), ("Z", a.slices[1]))}
    else:  # `vfrepro tables` from predictions alone: the per-slice outputs are skipped
        slices = {v: pd.DataFrame(columns=["case_id", "mask_label", "slice", "instance_label", "attention",
                                           "instance_score"]) for v in ("S", "Z")}
    ev = T.evaluate(preds, slices, need(cfg, "evaluate.auc_ci", "delong"), int(need(cfg, "evaluate.n_boot", 1000)),
                    int(cfg.get("seed", 0)))
    if not a.slices:
        ev["instance_auc"]["note"] = "skipped: no slices.csv (give --slices S=FILE Z=FILE)"
    write_table(ev["accuracy"], out / "accuracy.csv")
    write_table(ev["per_class"], out / "per_class.csv")
    cm = pd.concat([c.reset_index().assign(view=v) for v, c in ev["confusion"].items()], ignore_index=True)
    write_table(cm[["view", "true", *S.CLASSES]], out / "confusion.csv")
    confusion_figure(T.confusion_panels(ev["confusion"]), out / "confusion_matrices.png", normalise="true")
    T.per_class_figure(ev["per_class"], out / "per_class_accuracy.png")
    if a.slices:
        write_table(ev["instance_auc"], out / "instance_auc.csv")
        att = pd.concat(slices.values(), ignore_index=True)
        write_table(att, out / "attention.csv")
    else:
        print("qu2025_mil: skipped instance_auc.csv, attention.csv: they need the per-slice attention "
              "(slices.csv of S and Z: give --slices S=FILE Z=FILE)")
    if a.bag_table:
        arrays_meta = read_csv(a.bag_table, dtype={"case_id": str, "split": str})
        role = S.roles(arrays_meta, cfg)
        dist = T.label_distribution(arrays_meta, role)
        write_table(dist, out / "label_distribution.csv")
        T.distribution_figure(dist, out / "label_distribution.png")
    else:
        print("qu2025_mil: skipped label_distribution.csv/.png: they need the bag table of train and "
              "validation (bags.csv: give --bag-table FILE)")
    infos = [json.loads(Path(p).read_text()) for p in a.infos] if a.infos else []
    if a.infos:
        write_table(_chosen(cfg, infos), out / "chosen.csv")
    else:
        print("qu2025_mil: skipped chosen.csv: it needs train_info.json of S and Z (give --infos S=FILE Z=FILE)")
    (out / "summary.md").write_text(_summary_md(ev, infos, cfg))
    print(ev["accuracy"][["row", "n", "value", "ci_low", "ci_high", "majority_rate", "published"]].to_string(index=False))
    print(ev["instance_auc"][["view", "score", "auc", "ci_low", "ci_high", "n_bags", "note"]].to_string(index=False))


def _f(v, pct=True):
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return ""
    return f"{100 * v:.1f}%" if pct else f"{v:.3f}"


def _summary_md(ev, infos, cfg) -> str:
    acc, per, iauc = ev["accuracy"], ev["per_class"], ev["instance_auc"]
    # no training time here: a table must be byte-identical across runs (train_info.json has it)
    init = "; ".join(f"{i['view']}: {i['init']}, {i['n_train']} training bags, {i['epochs_run']} epochs "
                     f"on {i['device']}" for i in infos) or "not recorded (no train_info.json)"
    lines = [f"# qu2025_mil: published beside reproduced\n",
             f"Published: {ev['published'].citation}. Reproduced on the validation vertebrae "
             f"(split {json.dumps(cfg.get('split', {}))}); models: {init}. Accuracy 95% CI: the ci_method column of "
             "accuracy.csv (a cluster bootstrap over patients when a patient has several vertebrae, else "
             "Wilson score; Wilson is beside it there). "
             "Everything the paper leaves out is in chosen.csv.\n",
             "## Accuracy\n", "| view | n | patients | reproduced | 95% CI | CI method | Wilson 95% CI (vertebrae) "
             "| majority-class rate | published |", "|---|---|---|---|---|---|---|---|---|"]
    for r in acc.itertuples():
        lines.append(f"| {r.view} | {r.n} | {r.n_patients} | {_f(r.value)} | {_f(r.ci_low)}-{_f(r.ci_high)} | "
                     f"{r.ci_method} | {_f(r.wilson_ci_low)}-{_f(r.wilson_ci_high)} | "
                     f"{_f(r.majority_rate)} ({r.majority_class}) | {_f(r.published)} |")
    lines += ["", "## Per-class accuracy (Fig 4A-C), precision, recall, F1\n",
              "| view | class | support | accuracy | published | precision | recall | F1 |", "|---|---|---|---|---|---|---|---|"]
    for r in per.itertuples():
        lines.append(f"| {r.view} | {r.name} | {r.support} | {_f(r.accuracy)} | {_f(r.published)} | "
                     f"{_f(r.precision, False)} | {_f(r.recall, False)} | {_f(r.f1, False)} |")
    lines += ["", "## Does the model attend to the slices that show the fracture?\n",
              "Instance-level AUC against the planted instance labels (lesion map), fractured validation bags "
              "only. Not in the paper. The headline is the S view: a coronal plane through a fractured body "
              "almost always crosses the planted lesion, so Z's fractured bags have few or no slices without "
              "the fracture and its AUC is undefined or rests on a handful of negative slices (see the note "
              "column).\n", "| view | score | AUC | 95% CI | CI method | bags | slices | positive | note |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in iauc.itertuples():
        lines.append(f"| {r.view} | {r.score} | {_f(r.auc, False)} | {_f(r.ci_low, False)}-{_f(r.ci_high, False)} | "
                     f"{r.ci_method} | {r.n_bags} | {r.n_slices} | {r.n_positive} | {r.note} |")
    lines += [""] + [f"- {n}" for n in ev["notes"]]
    return "\n".join(lines) + "\n"


def _gradcam(a):
    import torch

    from ...deep.cam import class_activation_maps
    from ...evaluate.figures import pyplot, save
    from ...evaluate.schema import read
    from . import study as S
    from . import tables as T
    from .dataset import BagDataset
    from .model import BagLogits
    cfg = parse_cfg(a.cfg)
    arrays, meta = S.load_bags(a.bags)
    preds = {v: read(p, S.CLASSES) for v, p in (("S", a.predictions[0]), ("Z", a.predictions[1]))}
    picks = T.gradcam_picks(preds, int(need(cfg, "gradcam.per_pair", 2)))
    layer = need(cfg, "gradcam.target_layer", "features.10")
    key = {(c, int(m)): i for i, (c, m) in enumerate(zip(meta["case_id"], meta["mask_label"]))}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    plt = pyplot()
    rows = []
    for view, model_path in (("S", a.models[0]), ("Z", a.models[1])):
        model, _ = S.build_model(view, cfg, int(cfg.get("seed", 0)))
        model.load_state_dict(torch.load(model_path, map_location="cpu", weights_only=True))
        net = BagLogits(model).eval()
        pv = picks[(picks["view"] == view) & (picks["n_found"] > 0)]
        n = max(len(pv), 1)
        k = arrays[f"{view}_images"].shape[1]
        fig, axes = plt.subplots(n, k, figsize=(1.6 * k, 1.8 * n), squeeze=False)
        if pv.empty:
            axes[0, 0].text(0, 0.5, f"none of the paper's {view} pairs occur", fontsize=8)
        for ax in axes.ravel():
            ax.axis("off")
        for r_i, r in enumerate(pv.itertuples()):
            i = key[(r.case_id, int(r.mask_label))]
            bag = S.view_bags(arrays, meta, view, [i])
            x, _ = BagDataset(bag, view, S.transform_spec(cfg), train=False)[0]
            cam, cls = class_activation_maps(net, None, x, target=torch.tensor([S.CLASSES.index(r.pred)]),
                                             target_layer=layer)
            with torch.no_grad():
                att = model(x[None])["attention"][0].numpy()
            for s in range(k):
                ax = axes[r_i, s]
                ax.imshow(x[s, 0].numpy(), cmap="gray")
                ax.imshow(cam[s], cmap="jet", alpha=0.35, vmin=0, vmax=1)
                inst = int(arrays[f"{view}_instance"][i, s])
                ax.set_title(f"a={att[s]:.2f} f={inst}", fontsize=6)
            axes[r_i, 0].text(-0.1, 0.5, f"{r.true}/{r.pred}", transform=axes[r_i, 0].transAxes, fontsize=7,
                              ha="right", va="center")
            rows.append({"view": view, "true": r.true, "pred": r.pred, "case_id": r.case_id,
                         "mask_label": int(r.mask_label), "target_layer": layer,
                         "attention": json.dumps([round(float(v), 4) for v in att]),
                         "instance_labels": json.dumps([int(v) for v in arrays[f"{view}_instance"][i]])})
        fig.suptitle(f"qu2025_mil {view}: Grad-CAM ({layer}) per slice, true/predicted; a = attention, "
                     "f = slice shows the fracture", fontsize=8)
        save(fig, out / f"gradcam_{view}.png")
    table = picks.merge(pd.DataFrame(rows, columns=["view", "true", "pred", "case_id", "mask_label", "target_layer",
                                                    "attention", "instance_labels"]),
                        on=["view", "true", "pred", "case_id", "mask_label"], how="left")
    write_table(table, out / "gradcam.csv")
    print(table[["view", "true", "pred", "n_found", "case_id"]].to_string(index=False))


def _readers(a):
    from .tables import reader_study
    df, md, msg = reader_study(read_manifest(a.manifest, a.cases))
    write_table(df, a.out_csv)
    Path(a.out_md).write_text(md)
    print(msg)


def add_parser(subparsers) -> None:
    sub = study_parser(subparsers, STUDY, "qu2025_mil stages (gated-attention MIL, AO Spine types on CT slices)")

    b = sub.add_parser("bags", help="cut the S (axial) and Z (coronal) bags of every vertebra",
                       description="For every vertebra of the manifest: 5 axial (S) and 5 coronal (Z) slices "
                       "through its body from the preprocessed CT (bone window), with instance labels from the "
                       "lesion map when the manifest names one. One .npz for the cohort plus a table.")
    b.add_argument("--manifest", required=True, help="validated manifest")
    b.add_argument("--cases", help="file of case ids that passed ingest (one per line)")
    b.add_argument("--preprocess-dir", required=True, help="folder of <case>/{image,mask_reader1}.nii.gz")
    b.add_argument("--cfg", default="", help="the stage's config keys (bags.*) as JSON")
    b.add_argument("--out", required=True, help="output .npz of the bags")
    b.add_argument("--table", required=True, help="output CSV, one row per vertebra (labels, split)")
    b.set_defaults(func=guard(_bags))

    t = sub.add_parser("train", help="train one view's MIL model on the training bags, predict validation",
                       description="AlexNet features -> gated attention -> bag / instance (/ super-class) "
                       "heads, trained with the shared engine on the training bags only; predictions, "
                       "attention per slice and the model of the validation bags.")
    t.add_argument("--view", required=True, choices=["S", "Z"], help="S (axial) or Z (coronal)")
    t.add_argument("--bags", required=True, help="bags .npz from `vfrepro qu2025_mil bags`")
    t.add_argument("--cfg", default="", help="the stage's config keys as JSON")
    t.add_argument("--out", required=True, help="output folder (model.pt, predictions.csv, slices.csv, ...)")
    t.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    t.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    t.set_defaults(func=guard(_train))

    e = sub.add_parser("evaluate", help="S, Z and ensemble metrics, published beside reproduced",
                       description="Accuracy (95% CI over patients, Wilson beside), per-class accuracy, precision / recall / F1, "
                       "confusion matrices, label distributions, attention per slice and instance-level AUC, "
                       "published beside reproduced, chosen.csv.")
    e.add_argument("--predictions", nargs=2, required=True, metavar=("S", "Z"), help="predictions.csv of S and Z")
    e.add_argument("--slices", nargs=2, required=True, metavar=("S", "Z"), help="slices.csv of S and Z")
    e.add_argument("--infos", nargs=2, required=True, metavar=("S", "Z"), help="train_info.json of S and Z")
    e.add_argument("--bag-table", required=True, help="bags.csv from `vfrepro qu2025_mil bags`")
    e.add_argument("--cfg", default="", help="the stage's config keys as JSON")
    e.add_argument("--out", required=True, help="output folder")
    e.set_defaults(func=guard(_evaluate))

    g = sub.add_parser("gradcam", help="Grad-CAM on AlexNet's last conv layer for the paper's cases",
                       description="Grad-CAM (features.10) per slice for the paper's true/predicted pairs "
                       "(S: A0/A0, A0/AZ, AZ/AZ, AZ/A0; Z: A3/A3, A3/A4, A4/A4, A4/A3) where they occur.")
    g.add_argument("--bags", required=True, help="bags .npz from `vfrepro qu2025_mil bags`")
    g.add_argument("--predictions", nargs=2, required=True, metavar=("S", "Z"), help="predictions.csv of S and Z")
    g.add_argument("--models", nargs=2, required=True, metavar=("S", "Z"), help="model.pt of S and Z")
    g.add_argument("--cfg", default="", help="the stage's config keys as JSON")
    g.add_argument("--out", required=True, help="output folder (gradcam.csv, gradcam_S.png, gradcam_Z.png)")
    g.set_defaults(func=guard(_gradcam))

    r = sub.add_parser("reader-study", help="reader accuracy alone / with the model (optional input)",
                       description="From the manifest's reader_<name>_alone / reader_<name>_with_model "
                       "columns (AO types): accuracy with Wilson CI and paired t-tests. Without them it "
                       "writes a skip message, not an error.")
    r.add_argument("--manifest", required=True, help="validated manifest")
    r.add_argument("--cases", help="file of case ids that passed ingest (one per line)")
    r.add_argument("--out-csv", required=True, help="output CSV of the reader table")
    r.add_argument("--out-md", required=True, help="output Markdown of the reader table (or the skip message)")
    r.set_defaults(func=guard(_readers))
