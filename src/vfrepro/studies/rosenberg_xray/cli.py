"""`vfrepro rosenberg_xray {train,evaluate,cam}`: reads the inputs, writes every output file."""

from __future__ import annotations

import json
from pathlib import Path

from ...errors import InputError
from ..cli_common import add_train, guard, read_manifest, study_parser
from .study import CLASSES, STUDY


def _evaluate(a):
    from ...evaluate.figures import confusion_figure, roc_figure
    from ...evaluate.schema import read
    from .tables import evaluate
    if len(a.archs) != len(a.predictions) or (a.infos and len(a.infos) != len(a.archs)):
        raise InputError("give one --predictions (and --infos) file per --archs entry", field="archs")
    preds = {arch: read(p, CLASSES) for arch, p in zip(a.archs, a.predictions)}
    inits = {arch: json.loads(Path(p).read_text())["init"] for arch, p in zip(a.archs, a.infos or [])}
    res = evaluate(preds, inits)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    res["metrics_table"].to_csv(out / "metrics.csv", index=False)
    res["figure4"].to_csv(out / "figure4_table.csv", index=False)
    (out / "delong.json").write_text(json.dumps(res["delong"], indent=1))
    confusion_figure(res["confusion"], out / "confusion_matrices.png", normalise="all", dpi=120)
    roc_figure(res["roc"], out / "roc.png", f"{STUDY}: test set ROC", dpi=120)
    for arch, m in res["metrics"].items():
        print(f"{arch}: AUC {m['auc']:.3f} ({m['auc_ci_low']:.3f}-{m['auc_ci_high']:.3f}), "
              f"accuracy {m['accuracy']:.3f}, n={m['n']}")
    print("DeLong:", json.dumps(res["delong"]))


def _cam(a):
    from ...evaluate.schema import read
    from .cam import cam_figure
    rec = cam_figure(a.model, read(a.predictions, CLASSES), read_manifest(a.manifest, a.cases), a.out_png,
                     a.per_group, a.seed, a.target_layer)
    rec.to_csv(a.out_csv, index=False)
    print(f"CAMs for {len(rec)} crops -> {a.out_png}")


def add_parser(subparsers) -> None:
    sub = study_parser(subparsers, STUDY, "rosenberg_xray stages (fracture vs none on lateral radiographs)")
    add_train(sub, STUDY)

    e = sub.add_parser("evaluate", help="metrics, Figure 4 table, DeLong test and figures",
                       description="Metrics (AUC with DeLong CI, accuracy, sensitivity, specificity), the "
                       "Figure 4 table (published beside reproduced), the DeLong test ResNet18 vs VGG16, "
                       "ROC and confusion-matrix figures, from the predictions of `vfrepro rosenberg_xray train`.")
    e.add_argument("--predictions", nargs="+", required=True,
                   help="predictions.csv written by `vfrepro rosenberg_xray train`, one per --archs entry")
    e.add_argument("--archs", nargs="+", default=["resnet18"],
                   help="architecture of each --predictions file, same order (default: resnet18)")
    e.add_argument("--infos", nargs="*", help="train_info.json per architecture (init is reported)")
    e.add_argument("--out", required=True, help="output folder for the tables and figures")
    e.set_defaults(func=guard(_evaluate))

    c = sub.add_parser("cam", help="class activation maps for TP/TN/FP/FN samples",
                       description="Class activation maps over the crops of up to --per-group seeded "
                       "samples of each of TP, TN, FP and FN, as one figure.")
    c.add_argument("--model", required=True, help="model.pt written by `vfrepro rosenberg_xray train`")
    c.add_argument("--predictions", required=True, help="predictions.csv written by `vfrepro rosenberg_xray train`")
    c.add_argument("--manifest", required=True, help="validated manifest (results/cohort/manifest.csv)")
    c.add_argument("--cases", help="file of case ids that passed ingest (one per line)")
    c.add_argument("--out-png", required=True, help="output PNG of the CAM figure")
    c.add_argument("--out-csv", required=True,
                   help="output CSV of the samples shown (group, case_id, level, truth, pred, probability)")
    c.add_argument("--per-group", type=int, default=4, help="samples per TP/TN/FP/FN group (default: 4)")
    c.add_argument("--seed", type=int, default=0, help="seed of the sample draw (default: 0)")
    c.add_argument("--target-layer", default=None,
                   help="dotted module name of the layer to map (default: the architecture's last feature maps)")
    c.set_defaults(func=guard(_cam))
