"""`vfrepro train-cnn | evaluate-cnn | cam-cnn | reader-study`: the CNN branches' commands."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

import pandas as pd

from ..errors import InputError

# Studies whose training goes through the shared engine (module with CLASSES, LABEL_COL,
# prepare(table, cfg), crop_spec(cfg)). Later CNN branches add a line here.
STUDY_MODULES = {
    "rosenberg_xray": "vfrepro.studies.rosenberg_xray",
    "xu2023_vcf": "vfrepro.studies.xu2023_vcf",
}


def _study(name):
    if name not in STUDY_MODULES:
        raise InputError(f"unknown CNN study '{name}'; known: {sorted(STUDY_MODULES)}", field="study")
    return importlib.import_module(STUDY_MODULES[name])


def read_manifest(path, cases_file=None) -> pd.DataFrame:
    """The validated manifest, restricted to the cases listed in ``cases_file`` (ingest gate)."""
    t = pd.read_csv(path, dtype={"case_id": str, "site": str, "split": str, "level": str})
    if "case_id" not in t.columns:
        raise InputError("manifest has no case_id column: pass the validated manifest "
                         "(results/cohort/manifest.csv), not the raw one", path=str(path), field="case_id")
    if cases_file:
        keep = {line.strip() for line in Path(cases_file).read_text().splitlines() if line.strip()}
        t = t[t["case_id"].isin(keep)].reset_index(drop=True)
    return t


def _cfg(text: str) -> dict:
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"--config-json is not valid JSON ({exc})", field="config-json") from None
    if not isinstance(cfg, dict):
        raise InputError("--config-json must be a JSON object", field="config-json")
    return cfg


def _train(a):
    study = _study(a.study)
    table = read_manifest(a.manifest, a.cases)
    info = importlib.import_module("vfrepro.deep.run").fit_and_predict(
        study, table, a.arch, _cfg(a.config_json), a.out, threads=a.threads, progress=not a.no_progress)
    print(json.dumps({k: info[k] for k in ("study", "arch", "init", "n_train", "n_eval", "best_setting",
                                          "train_accuracy_final", "epochs_run", "device", "seconds")},
                     default=str))
    return 0


def _evaluate(a):
    if a.study == "rosenberg_xray":
        from ..studies import rosenberg_xray as s
        if len(a.archs) != len(a.predictions) or (a.infos and len(a.infos) != len(a.archs)):
            raise InputError("give one --predictions (and --infos) file per --archs entry", field="archs")
        res = s.evaluate(dict(zip(a.archs, a.predictions)), a.out,
                         dict(zip(a.archs, a.infos)) if a.infos else None)
        for arch, m in res["metrics"].items():
            print(f"{arch}: AUC {m['auc']:.3f} ({m['auc_ci_low']:.3f}-{m['auc_ci_high']:.3f}), "
                  f"accuracy {m['accuracy']:.3f}, n={m['n']}")
        print("DeLong:", json.dumps(res["delong"]))
    elif a.study == "xu2023_vcf":
        from ..studies import xu2023_vcf as s
        t2 = s.evaluate(a.predictions[0], a.out, n_boot=a.n_boot, seed=a.seed,
                        info_path=a.infos[0] if a.infos else None)
        print(t2[["dataset", "class", "n", "auc_reproduced", "accuracy_reproduced"]].to_string(index=False))
    else:
        raise InputError(f"evaluate-cnn knows rosenberg_xray and xu2023_vcf, not {a.study}", field="study")
    return 0


def _cam(a):
    from ..studies import rosenberg_xray as s
    table = read_manifest(a.manifest, a.cases)
    rec = s.cam_figure(a.model, a.predictions, table, a.out_png, a.out_csv, a.per_group, a.seed)
    print(f"CAMs for {len(rec)} crops -> {a.out_png}")
    return 0


def _readers(a):
    from ..studies import xu2023_vcf as s
    table = read_manifest(a.manifest, a.cases)
    print(s.reader_study(table, a.predictions, a.out_csv, a.out_md, a.n_boot, a.seed))
    return 0


def _guard(fn):
    def run(a):
        try:
            return fn(a)
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return run


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("train-cnn", help="CV grid search by patient, refit, predict (CNN branches)",
                              description="Train one architecture for one CNN study with the shared "
                              "engine: k-fold CV over the config grid (folds by patient) on the training "
                              "rows, refit on all of them, predict the evaluation rows.")
    p.add_argument("--study", required=True, choices=sorted(STUDY_MODULES), help="CNN study to train")
    p.add_argument("--arch", required=True, help="torchvision architecture, e.g. resnet18, vgg16")
    p.add_argument("--manifest", required=True, help="validated manifest (results/cohort/manifest.csv)")
    p.add_argument("--cases", help="file of case ids that passed ingest (one per line)")
    p.add_argument("--config-json", required=True, help="the study's config section as JSON")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    p.set_defaults(func=_guard(_train))

    e = subparsers.add_parser("evaluate-cnn", help="tables and figures of a CNN study from its predictions",
                              description="Metrics, tables and figures of a CNN study from the predictions "
                              "written by `vfrepro train-cnn`: rosenberg_xray compares architectures (AUC, "
                              "accuracy, DeLong); xu2023_vcf writes Table 2 with bootstrap CIs.")
    e.add_argument("--study", required=True, choices=sorted(STUDY_MODULES), help="CNN study to evaluate")
    e.add_argument("--predictions", nargs="+", required=True,
                   help="predictions.csv written by `vfrepro train-cnn`, one per --archs entry "
                   "(xu2023_vcf: the first is used)")
    e.add_argument("--archs", nargs="+", default=["resnet18"],
                   help="architecture of each --predictions file, same order (rosenberg_xray; default: resnet18)")
    e.add_argument("--infos", nargs="*", help="train_info.json per architecture (init is reported)")
    e.add_argument("--out", required=True, help="output folder for the tables and figures")
    e.add_argument("--n-boot", type=int, default=1000,
                   help="bootstrap resamples for the AUC CIs (xu2023_vcf; default: 1000)")
    e.add_argument("--seed", type=int, default=0, help="bootstrap seed (xu2023_vcf; default: 0)")
    e.set_defaults(func=_guard(_evaluate))

    c = subparsers.add_parser("cam-cnn", help="class activation maps for TP/TN/FP/FN samples",
                              description="Class activation maps (rosenberg_xray) over the crops of up to "
                              "--per-group seeded samples of each of TP, TN, FP and FN, as one figure.")
    c.add_argument("--model", required=True, help="model.pt written by `vfrepro train-cnn`")
    c.add_argument("--predictions", required=True, help="predictions.csv written by `vfrepro train-cnn`")
    c.add_argument("--manifest", required=True, help="validated manifest (results/cohort/manifest.csv)")
    c.add_argument("--cases", help="file of case ids that passed ingest (one per line)")
    c.add_argument("--out-png", required=True, help="output PNG of the CAM figure")
    c.add_argument("--out-csv", required=True, help="output CSV of the samples shown (group, case_id, level, truth, pred, probability)")
    c.add_argument("--per-group", type=int, default=4, help="samples per TP/TN/FP/FN group (default: 4)")
    c.add_argument("--seed", type=int, default=0, help="seed of the sample draw (default: 0)")
    c.set_defaults(func=_guard(_cam))

    r = subparsers.add_parser("reader-study", help="xu2023_vcf reader collaboration table (optional input)",
                              description="xu2023_vcf reader study: each reader alone vs with the model "
                              "(Table 3 layout, McNemar per reader), from the manifest's "
                              "reader_<name>_alone / reader_<name>_with_model columns. Without them it "
                              "writes a skip message, not an error.")
    r.add_argument("--manifest", required=True, help="validated manifest (results/cohort/manifest.csv)")
    r.add_argument("--cases", help="file of case ids that passed ingest (one per line)")
    r.add_argument("--predictions", required=True, help="predictions.csv written by `vfrepro train-cnn`")
    r.add_argument("--out-csv", required=True, help="output CSV of the collaboration table")
    r.add_argument("--out-md", required=True, help="output Markdown of the collaboration table")
    r.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the CIs (default: 1000)")
    r.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    r.set_defaults(func=_guard(_readers))
