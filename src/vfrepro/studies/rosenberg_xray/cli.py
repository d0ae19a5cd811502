"""`vfrepro rosenberg_xray {train,evaluate,cam}`: reads the inputs, writes every output file."""

from __future__ import annotations

import json
from pathlib import Path

from ...errors import InputError
from ..cli_common import add_train, guard, read_manifest, study_parser, write_table
from .study import CLASSES, STUDY


def _evaluate(a):
    from ...evaluate.figures import confusion_figure, roc_figure
    from ...evaluate.schema import read
    from .tables import evaluate
    if len(a.archs) != len(a.predictions) or (a.infos and len(a.infos) != len(a.archs)):
        raise InputError("give one --predictions (and --infos) file per --archs entry", field="archs")
    from ...evaluate import chosen as C
    from . import lesion, study
    from .tables import distribution, distribution_figure, markdown
    preds = {arch: read(p, CLASSES) for arch, p in zip(a.archs, a.predictions)}
    inits = {arch: json.loads(Path(p).read_text())["init"] for arch, p in zip(a.archs, a.infos or [])}
    manifest = getattr(a, "manifest", None)
    table = read_manifest(manifest, getattr(a, "cases", None)) if manifest else None
    res = evaluate(preds, inits, n_boot=getattr(a, "n_boot", 1000), seed=getattr(a, "seed", 0))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    res["metrics_table"].to_csv(out / "metrics.csv", index=False)
    res["figure4"].to_csv(out / "figure4_table.csv", index=False)
    (out / "delong.json").write_text(json.dumps(res["delong"], indent=1))
    dist = None
    if table is not None:
        dist = distribution(table, next(iter(preds.values())))
        write_table(dist, out / "figures2_3.csv")
        distribution_figure(dist, out / "figures2_3.png")
    synthetic = getattr(a, "cohort_source", "") == "synthetic"
    extra = [("cohort", "cohort.source", "synthetic",
              "generated radiographs with planted lesions, not the paper's patients")] if synthetic else []
    chosen = C.table([study, lesion], extra=extra)
    write_table(chosen, out / "chosen.csv")
    (out / "tables.md").write_text(markdown(res, chosen, dist, synthetic))
    confusion_figure(res["confusion"], out / "confusion_matrices.png", normalise="all", dpi=120)
    roc_figure(res["roc"], out / "roc.png", f"{STUDY}: test set ROC", dpi=120)
    for arch, m in res["metrics"].items():
        print(f"{arch}: AUC {m['auc']:.3f} ({m['auc_ci_low']:.3f}-{m['auc_ci_high']:.3f}), "
              f"accuracy {m['accuracy']:.3f}, n={m['n']}")
    print("DeLong:", json.dumps(res["delong"]))


def _cam(a):
    from ...evaluate.schema import read
    from .cam import cam_figure, lesion_check
    pred, table = read(a.predictions, CLASSES), read_manifest(a.manifest, a.cases)
    rec = cam_figure(a.model, pred, table, a.out_png, a.per_group, a.seed, a.target_layer)
    rec.to_csv(a.out_csv, index=False)
    print(f"CAMs for {len(rec)} crops -> {a.out_png}")
    if a.out_lesion_csv or a.out_lesion_summary:
        rows, summ = lesion_check(a.model, pred, table, a.target_layer)
        if a.out_lesion_csv:
            write_table(rows, a.out_lesion_csv)
        if a.out_lesion_summary:
            write_table(summ, a.out_lesion_summary)
        s = summ.iloc[0]
        print(f"CAM peak on the planted lesion: {s.peak_hit_fraction:.3f} of n={s.n} fractured crops "
              f"(chance {s.chance_lesion_area_share:.3f}; top-k {s.topk_hit_fraction:.3f}; published {s.published})")


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
    e.add_argument("--manifest", help="validated manifest: Figs 2-3 (fractures by level and AO type)")
    e.add_argument("--cases", help="file of case ids that passed ingest (one per line)")
    e.add_argument("--cohort-source", default="", help="config cohort.source (synthetic: the outputs say so)")
    e.add_argument("--n-boot", type=int, default=1000, help="cluster bootstrap resamples (default: 1000)")
    e.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
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
    c.add_argument("--out-lesion-csv", help="output CSV: every fractured test crop's CAM against its planted lesion")
    c.add_argument("--out-lesion-summary", help="output CSV: CAM peak / top-k hit fractions beside the published 81%%")
    c.add_argument("--per-group", type=int, default=4, help="samples per TP/TN/FP/FN group (default: 4)")
    c.add_argument("--seed", type=int, default=0, help="seed of the sample draw (default: 0)")
    c.add_argument("--target-layer", default=None,
                   help="dotted module name of the layer to map (default: the architecture's last feature maps)")
    c.set_defaults(func=guard(_cam))
