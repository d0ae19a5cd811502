"""Tune wang2024_twostage's CPU demo settings on a separate synthetic cohort (never the default one).

The default cohort (config.yaml, seed 20251122) is what the branch reports on; its held-out
split must not choose the settings. This script scores candidate settings on another cohort
(seed 11), prepared once with ingest + preprocess only (every study disabled):

    mkdir -p /tmp/wang_tune && cat > /tmp/wang_tune/tune.yaml <<EOF
    cohort: {source: synthetic, manifest: "", synthetic: {n_patients: 120, seed: 11, sites: 4}}
    liu2025_dlr: {enabled: false}
    rosenberg_xray: {enabled: false}
    xu2023_vcf: {enabled: false}
    qu2025_mil: {enabled: false}
    wang2024_twostage: {enabled: false}
    EOF
    snakemake -s Snakefile -d /tmp/wang_tune --configfile config.yaml /tmp/wang_tune/tune.yaml --cores 2

then ``python bench/tune_wang2024_twostage.py --workdir /tmp/wang_tune [--set detector.train.epochs=3 ...]
[--backbones resnet18] [--skip-classifier]``. Prints, per candidate: seconds per stage, the
detectors' AP at IoU 0.5 and FN / FP rates at the score threshold on the tuning cohort's internal
split, and the classifier's per-class
AUC there (paper's test patches, detector normals from the first backbone). The config.yaml
demo block was chosen from these runs (bench/README.md has the table).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tuning import study_config

ROOT = Path(__file__).resolve().parents[1]


def run(workdir: Path, cfg: dict, backbones, skip_classifier: bool, threads: int = 1) -> dict:
    from vfrepro.studies.wang2024_twostage import slices as SL, study as S
    from vfrepro.studies.wang2024_twostage.boxes import detection_errors
    from vfrepro.studies.wang2024_twostage.metrics import detection_ap, per_class_metrics
    torch.set_num_threads(threads)
    seed = int(cfg["seed"])
    scfg = SL.SliceConfig.from_dict(cfg["slices"])
    cache = workdir / f"wang_tune_slices_{abs(hash(json.dumps(scfg.as_dict(), sort_keys=True))) % 10**8}.npz"
    table = pd.read_csv(workdir / "resources/cohort/manifest.validated.csv", dtype={"case_id": str})
    split_of = table.drop_duplicates("case_id").set_index("case_id")["split"].to_dict()
    if not cache.is_file():
        S.save_slices(cache, SL.manifest_slices(table, workdir / "results/preprocess", scfg), split_of)
    slices, split = S.load_slices(cache)
    tr = [s for s, sp in zip(slices, split) if sp == "train"]
    va_i = [i for i, sp in enumerate(split) if sp == "internal"]
    va = [slices[i] for i in va_i]
    res: dict = {}
    dets_all = {}
    for b in backbones:
        t0 = time.time()
        fit = S.fit_detector(tr, b, cfg["detector"], scfg.input_size, seed)
        dets = S.predict_detections(fit.model, slices, device="cpu")
        res[f"{b}_s"] = round(time.time() - t0, 1)
        res[f"{b}_ap"] = round(detection_ap([dets[i] for i in va_i], [{"boxes": s.boxes} for s in va])["ap"], 3)
        _, summ = detection_errors([s.boxes for s in va], [dets[i]["boxes"] for i in va_i],
                                   [dets[i]["scores"] for i in va_i], score_threshold=float(cfg["score_threshold"]))
        res[f"{b}_fn_pct"], res[f"{b}_fp_pct"] = round(100 * summ["fn_rate"], 1), round(100 * summ["fp_rate"], 1)
        dets_all[b] = dets
    if skip_classifier or not backbones:
        return res
    t0 = time.time()
    kept = S.thresholded(dets_all[backbones[0]], float(cfg["score_threshold"]))
    tr_i = [i for i, sp in enumerate(split) if sp == "train"]
    srcs, _ = S.build_sources(tr, [kept[i] for i in tr_i])
    fit, _, _ = S.fit_classifier(srcs, cfg["classifier"], scfg.input_size, seed)
    vsrc, _ = S.build_sources(va, [kept[i] for i in va_i])
    sc = S.score_sources(fit.model, vsrc, cfg["classifier"], scfg.input_size, seed, device="cpu")
    res["classifier_s"] = round(time.time() - t0, 1)
    tab = per_class_metrics(np.stack([s.target for s in vsrc]), sc)
    for _, r in tab.iterrows():
        res[f"auc_{r['class']}"] = round(float(r["auc"]), 3)
        res[f"npos_{r['class']}"] = int(r["n_pos"])
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, required=True, help="the tuning cohort's snakemake folder")
    ap.add_argument("--config", type=Path, default=ROOT / "config.yaml")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a wang2024_twostage key (dotted, YAML value); repeatable")
    ap.add_argument("--backbones", nargs="*", default=["resnet18", "mobilenet_v2"])
    ap.add_argument("--skip-classifier", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    cfg = study_config(a.config, "wang2024_twostage", a.set)
    out = run(a.workdir, cfg, a.backbones, a.skip_classifier, a.threads)
    print(json.dumps({"set": a.set, **out}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
