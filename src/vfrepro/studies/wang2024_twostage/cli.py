"""`vfrepro wang2024_twostage {slices,detect,detection-eval,classify,evaluate}`: reads the inputs,
writes every output file (the package's other modules compute and return)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import InputError
from ..cli_common import guard, need, parse_cfg, read_csv, read_manifest, study_parser, write_json, write_table

STUDY = "wang2024_twostage"


def _threads(n: int) -> None:
    import torch
    torch.set_num_threads(max(1, int(n)))


def _out(path) -> Path:
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    return p


# ----------------------------------------------------------------------------- slices

def _slices(a):
    from . import slices as SL, study as S, tables as T
    from .report import tables_markdown
    cfg = parse_cfg(a.cfg)
    scfg = SL.SliceConfig.from_dict(need(cfg, "slices"))
    table = read_manifest(a.manifest, a.cases)
    sl = SL.manifest_slices(table, a.preprocess_dir, scfg, manifest_path=str(a.manifest))
    if not sl:
        raise InputError("no sagittal slices: no case has a labelled vertebra", path=str(a.manifest))
    split_of = table.drop_duplicates("case_id").set_index("case_id")["split"].astype(str).to_dict()
    out = _out(a.out)
    S.save_slices(_out(out / "slices") / "slices.npz", sl, split_of)
    tab = SL.slices_table(sl)
    tab.insert(1, "split", tab["case_id"].map(split_of))
    write_table(tab, out / "slices" / "slices.csv")
    per_patient = tab.groupby("case_id")["slice_id"].nunique()
    t1, tests = T.table1(table, per_patient, manifest_path=str(a.manifest))
    write_table(t1, out / "table1.csv", index=True)
    write_table(tests, out / "table1_tests.csv")
    v = tab[tab["split"].isin(T.DATASETS)].assign(dataset=lambda d: d["split"].map(T.DATASETS))
    t2 = T.table2(v, order=list(T.DATASETS.values()))
    write_table(t2, out / "table2.csv", index=True)
    (out / "tables.md").write_text(tables_markdown(t1, tests, t2))
    print(json.dumps({"slices": len(sl), "boxes": len(tab), "cases": int(tab["case_id"].nunique()),
                      "per_split": tab.groupby("split")["slice_id"].nunique().to_dict()}))


# ----------------------------------------------------------------------------- detect

def _detect(a):
    import torch

    from . import study as S
    _threads(a.threads)
    cfg = parse_cfg(a.cfg)
    slices, split = S.load_slices(a.slices)
    seed = int(need(cfg, "seed"))
    dcfg = need(cfg, "detector")
    size = int(need(cfg, "slices.input_size"))
    tr = [s for s, sp in zip(slices, split) if sp == "train"]
    out = _out(a.out)
    fit = S.fit_detector(tr, a.backbone, dcfg, size, seed, log_csv=out / "epoch_log.csv")
    t0 = time.time()
    dets = S.predict_detections(fit.model, slices, device=S.detector_train_config(dcfg, a.backbone, seed).device)
    pred_s = time.time() - t0
    write_table(S.detections_table(slices, split, dets, a.backbone), out / "detections.csv")
    torch.save({"state_dict": fit.model.state_dict(), "backbone": a.backbone, "init": fit.init}, out / "model.pt")
    n_items = len(tr) * (8 if dcfg.get("augment", "offline8") == "offline8" else 1)
    train_s = sum(float(h["seconds"]) for h in fit.history)
    info = {"study": STUDY, "backbone": a.backbone, "init": fit.init, "fpn": bool(dcfg.get("fpn", False)),
            "n_train_slices": len(tr), "n_slices_predicted": len(slices), "epochs": len(fit.history),
            "device": fit.device, "seconds": round(fit.seconds, 2),
            "train_images_per_s": round(n_items * len(fit.history) / train_s, 2) if train_s else None,
            "predict_images_per_s": round(len(slices) / pred_s, 2) if pred_s else None,
            "final_train_loss": fit.history[-1]["train_loss"]}
    write_json(info, out / "info.json")
    print(json.dumps(info))


# ----------------------------------------------------------------------------- detection eval

def _detection_eval(a):
    from . import report as R, study as S
    cfg = parse_cfg(a.cfg)
    slices, split = S.load_slices(a.slices)
    dets = {}
    for path in a.detections:
        t = read_csv(path, dtype={"slice_id": str, "case_id": str, "split": str})
        if t.empty and "backbone" not in t.columns:
            raise InputError("detections file lacks the backbone column", path=str(path), field="backbone")
        b = str(t["backbone"].iloc[0]) if len(t) else Path(path).parent.name
        dets[b] = S.detections_per_slice(t, slices)
    res = R.detection_evaluation(slices, split, dets, score_threshold=float(need(cfg, "score_threshold")),
                                 iom_threshold=float(need(cfg, "iom_threshold")))
    out = _out(a.out)
    write_table(res["table"], out / "detection_table.csv")
    write_table(res["per_image"], out / "per_image.csv")
    write_table(res["curves"], out / "pr_curves.csv")
    (out / "detection_table.md").write_text(R.detection_markdown(res))
    R.pr_figure(res, out / "pr_curves.png")
    R.counts_figure(res, out / "counts.png")
    R.error_histogram_figure(res, out / "error_histograms.png")
    show = res["table"][res["table"]["quantity"].isin(["map", "fp_rate_pct", "fn_rate_pct"])]
    print(show[["dataset", "column", "quantity", "value", "published"]].to_string(index=False))


# ----------------------------------------------------------------------------- classify

def _classify(a):
    import torch

    from . import study as S
    _threads(a.threads)
    cfg = parse_cfg(a.cfg)
    seed = int(need(cfg, "seed"))
    ccfg = need(cfg, "classifier")
    size = int(need(cfg, "slices.input_size"))
    thr = float(need(cfg, "score_threshold"))
    slices, split = S.load_slices(a.slices)
    t = read_csv(a.detections, dtype={"slice_id": str, "case_id": str, "split": str})
    kept = S.thresholded(S.detections_per_slice(t, slices), thr)
    tr_i = [i for i, sp in enumerate(split) if sp == "train"]
    ev_i = [i for i, sp in enumerate(split) if sp in ("train", "internal", "external")]
    tr_src, _ = S.build_sources([slices[i] for i in tr_i], [kept[i] for i in tr_i])
    out = _out(a.out)
    fit, init, counts = S.fit_classifier(tr_src, ccfg, size, seed, log_csv=out / "epoch_log.csv")
    device = fit.device
    ev_sl, ev_sp = [slices[i] for i in ev_i], split[ev_i]
    t0 = time.time()
    src, where = S.build_sources(ev_sl, [kept[i] for i in ev_i])
    sc = S.score_sources(fit.model, src, ccfg, size, seed, device=device)
    pred = S.prediction_rows(ev_sl, ev_sp, src, where, sc, "paper")
    write_table(pred, out / "predictions.csv")
    n_scored = len(src)
    if ccfg.get("automatic", True):
        auto_i = [j for j, sp in enumerate(ev_sp) if sp != "train"]
        a_sl, a_sp = [ev_sl[j] for j in auto_i], ev_sp[auto_i]
        asrc, awhere, missed = S.automatic_sources(a_sl, [kept[ev_i[j]] for j in auto_i])
        asc = S.score_sources(fit.model, asrc, ccfg, size, seed, device=device)
        auto = S.prediction_rows(a_sl, a_sp, asrc, awhere, asc, "automatic")
        n_scored += len(asrc)
        miss = [{"case_id": a_sl[m["slice"]].case_id, "level": m["level"], "slice_id": S.slice_id(a_sl[m["slice"]]),
                 "split": a_sp[m["slice"]], "dataset": S.DATASETS.get(a_sp[m["slice"]], a_sp[m["slice"]]),
                 "box_source": "missed", "path": "automatic",
                 **{f"truth_{c}": int(v) for c, v in zip(S.CLASSES, m["target"])},
                 **{f"prob_{c}": float(c == "normal") for c in S.CLASSES}} for m in missed]
        auto = pd.concat([auto, pd.DataFrame(miss)], ignore_index=True) if miss else auto
    else:
        auto = pred.iloc[:0]
    write_table(auto, out / "predictions_automatic.csv")
    pred_s = time.time() - t0
    torch.save({"state_dict": fit.model.state_dict(), "arch": ccfg.get("arch", "resnet50"), "classes": list(S.CLASSES),
                "init": init}, out / "model.pt")
    n_train_items = len(fit.history) and sum(float(h["seconds"]) for h in fit.history)
    per_epoch = len(tr_src) * (1 if ccfg.get("train_mode", "online") == "online" else S.patch_config(ccfg, size).n_jitter)
    info = {"study": STUDY, "arch": ccfg.get("arch", "resnet50"), "init": init, "detector": a.detector_name,
            "n_train_boxes": len(tr_src), "train_counts_after_resampling_indices": counts,
            "resample": ccfg.get("resample", "weights"), "epochs": len(fit.history), "device": device,
            "seconds": round(fit.seconds, 2),
            "train_patches_per_s": round(per_epoch * len(fit.history) / n_train_items, 2) if n_train_items else None,
            "predict_patches_per_s": round(n_scored * S.patch_config(ccfg, size).n_jitter / pred_s, 2) if pred_s else None,
            "final_train_loss": fit.history[-1]["train_loss"]}
    write_json(info, out / "info.json")
    print(json.dumps(info))


# ----------------------------------------------------------------------------- evaluate

def _evaluate(a):
    from ...evaluate.schema import read
    from . import report as R, study as S
    cfg = parse_cfg(a.cfg)
    pred = read(a.predictions, S.CLASSES, multilabel=True)
    auto = read(a.predictions_automatic, S.CLASSES, multilabel=True) if a.predictions_automatic else None
    if auto is not None and auto.empty:
        auto = None
    thr = float(cfg.get("threshold", 0.5))
    n_boot, seed = int(cfg.get("n_boot", 200)), int(cfg.get("seed", 0))
    out = _out(a.out)
    t3 = R.table3(pred, threshold=thr, n_boot=n_boot, seed=seed)
    t3auto = R.table3(auto, threshold=thr, n_boot=n_boot, seed=seed) if auto is not None else None
    write_table(t3, out / "table3.csv")
    # the automatic path's table (empty, with the same columns, when the path is off)
    write_table(t3auto if t3auto is not None else t3.iloc[:0], out / "table3_automatic.csv")
    info = json.loads(Path(a.info).read_text()) if a.info else {}
    (out / "table3.md").write_text(R.table3_markdown(t3, t3auto, info, thr, n_boot, seed))
    R.roc_figures(pred, out / "roc_curves.png", n_boot=n_boot, seed=seed)
    for key, ds in S.SPLIT_KEYS.items():
        R.confusion_figures(pred, S.DATASETS[key], out / f"confusion_{ds}.png", thr)
    if a.slices and a.detections:
        slices, split = S.load_slices(a.slices)
        t = read_csv(a.detections, dtype={"slice_id": str, "case_id": str, "split": str})
        R.examples_figure(slices, split, S.detections_per_slice(t, slices), pred, out / "examples.png",
                          score_threshold=float(cfg.get("score_threshold", 0.75)), threshold=thr, seed=seed)
    write_table(R.chosen_table(cfg), out / "chosen.csv")
    show = t3[(t3["dataset"] == "test")][["class", "n_pos", "auc_reproduced", "sensitivity_reproduced",
                                           "sensitivity_published", "f1_reproduced", "f1_published"]]
    print(show.to_string(index=False))


# ----------------------------------------------------------------------------- parser

def add_parser(subparsers) -> None:
    sub = study_parser(subparsers, STUDY, "wang2024_twostage stages (vertebra detection + multi-label diagnosis)")

    def cfg_arg(p):
        p.add_argument("--cfg", default="", help="the stage's wang2024_twostage config keys as JSON")

    s = sub.add_parser("slices", help="sagittal slices, vertebra boxes and labels; Tables 1 and 2",
                       description="Cut sagittal slices from each case's preprocessed CT, box each vertebra "
                       "from the label map, label each box OVCF/OF/SN/KD/PS from the manifest flags and the "
                       "lesion map; write slices.npz, slices.csv and Tables 1-2.")
    s.add_argument("--manifest", required=True, help="validated manifest")
    s.add_argument("--cases", help="file of case ids that passed ingest (one per line)")
    s.add_argument("--preprocess-dir", required=True, help="folder of <case>/{image,mask_reader1}.nii.gz")
    cfg_arg(s)
    s.add_argument("--out", required=True, help="output folder")
    s.set_defaults(func=guard(_slices))

    d = sub.add_parser("detect", help="train one Faster R-CNN backbone on the training slices, detect on all",
                       description="Faster R-CNN (ResNet18 or MobileNetV2 backbone) trained with the shared "
                       "engine on the training split's slices only; detections on every slice.")
    d.add_argument("--slices", required=True, help="slices.npz of the slices stage")
    d.add_argument("--backbone", required=True, choices=["resnet18", "mobilenet_v2"], help="detector backbone")
    cfg_arg(d)
    d.add_argument("--out", required=True, help="output folder (model.pt, detections.csv, epoch_log.csv, info.json)")
    d.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    d.set_defaults(func=guard(_detect))

    e = sub.add_parser("detection-eval", help="AP / PR curves, Wilcoxon, counts, hit/FN/FP by IoM",
                       description="Detection evaluation per backbone and dataset, published beside reproduced.")
    e.add_argument("--slices", required=True, help="slices.npz of the slices stage")
    e.add_argument("--detections", nargs="+", required=True, help="detections.csv of each backbone")
    cfg_arg(e)
    e.add_argument("--out", required=True, help="output folder for the tables and figures")
    e.set_defaults(func=guard(_detection_eval))

    c = sub.add_parser("classify", help="ResNet50 multi-label classifier on jittered patches",
                       description="Patches as the paper builds them (annotated diseased boxes, detector "
                       "normals), six sigmoid outputs trained on the training split only; predictions of "
                       "the paper's path and of the fully automatic path.")
    c.add_argument("--slices", required=True, help="slices.npz of the slices stage")
    c.add_argument("--detections", required=True, help="detections.csv of the detector giving the normals")
    c.add_argument("--detector-name", default="", help="that detector's backbone (recorded in info.json)")
    cfg_arg(c)
    c.add_argument("--out", required=True, help="output folder (model.pt, predictions, epoch_log.csv, info.json)")
    c.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    c.set_defaults(func=guard(_classify))

    v = sub.add_parser("evaluate", help="Table 3 (published beside reproduced), ROC, confusion, examples",
                       description="Per dataset and class one-vs-all sensitivity, specificity, PPV, NPV, F1 "
                       "(with CIs over patients) and AUC (cluster bootstrap CI); the paper's mean +- SD without SN; figures.")
    v.add_argument("--predictions", required=True, help="predictions.csv of the classify stage")
    v.add_argument("--predictions-automatic", help="predictions_automatic.csv (beyond the paper)")
    v.add_argument("--info", help="info.json of the classify stage")
    v.add_argument("--slices", help="slices.npz (for the examples figure)")
    v.add_argument("--detections", help="detections.csv (for the examples figure)")
    cfg_arg(v)
    v.add_argument("--out", required=True, help="output folder for the tables and figures")
    v.set_defaults(func=guard(_evaluate))
