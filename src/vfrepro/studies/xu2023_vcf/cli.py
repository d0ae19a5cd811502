"""`vfrepro xu2023_vcf {train,evaluate,reader-study}`: reads the inputs, writes every output file."""

from __future__ import annotations

import json
from pathlib import Path

from ..cli_common import add_train, guard, read_manifest, study_parser
from .study import CLASSES, STUDY


def _evaluate(a):
    from ...evaluate import chosen
    from ...evaluate.figures import confusion_figure, roc_figure
    from ...evaluate.schema import read
    from . import tables as T
    pred = read(a.predictions, CLASSES)
    info = json.loads(Path(a.infos[0]).read_text()) if a.infos else {}
    init = info.get("init", "?")
    cfg = {"seed": a.seed, "n_boot": a.n_boot}
    ch = T.chosen_table(cfg, getattr(a, "cohort", "") or "", info.get("train_config"))
    ch_md = chosen.markdown(ch)
    t2 = T.table2(pred, a.n_boot, a.seed)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t2.to_csv(out / "table2.csv", index=False)
    (out / "table2.md").write_text(T.table2_markdown(t2, init, a.n_boot, a.seed, ch_md))
    ch.to_csv(out / "chosen.csv", index=False)
    if getattr(a, "manifest", None):
        t1, md = T.table1(read_manifest(a.manifest, a.cases), pred)
        t1.to_csv(out / "table1.csv", index=False)
        (out / "table1.md").write_text(md + "\n" + ch_md)
    roc, cm = T.panels(pred)
    roc_figure(roc, out / "roc_curves.png")
    confusion_figure(cm, out / "confusion_matrices.png", normalise="true")
    print(t2[["dataset", "class", "n", "auc_reproduced", "accuracy_reproduced", "sensitivity_reproduced"]]
          .to_string(index=False))


def _readers(a):
    from ...evaluate.schema import read
    from .tables import reader_figure, reader_study
    table, pred = read_manifest(a.manifest, a.cases), read(a.predictions, CLASSES)
    df, md, msg = reader_study(table, pred, a.n_boot, a.seed)
    df.to_csv(a.out_csv, index=False)
    Path(a.out_md).write_text(md)
    if a.out_png:
        reader_figure(table, pred, a.out_png)
    print(msg)


def _bootstrap_options(p) -> None:
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the CIs (default: 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")


def add_parser(subparsers) -> None:
    sub = study_parser(subparsers, STUDY, "xu2023_vcf stages (acute / chronic / pathologic VCF on radiographs)")
    add_train(sub, STUDY)

    e = sub.add_parser("evaluate", help="Table 2 (published beside reproduced), ROC curves, confusion matrices",
                       description="Table 2 per dataset (the paper's overall row, a macro row, per class; "
                       "95% CIs, patients resampled) published beside reproduced, Table 1 (with --manifest), "
                       "chosen.csv, ROC curves and row-normalised confusion matrices per dataset, from "
                       "the predictions of `vfrepro xu2023_vcf train`.")
    e.add_argument("--predictions", required=True, help="predictions.csv written by `vfrepro xu2023_vcf train`")
    e.add_argument("--infos", nargs="*", help="train_info.json of the model (the first is read: its init is reported)")
    e.add_argument("--out", required=True, help="output folder for the tables and figures")
    e.add_argument("--manifest", help="validated manifest: with it, Table 1 (cohort characteristics)")
    e.add_argument("--cases", help="file of case ids that passed ingest (one per line)")
    e.add_argument("--cohort", default="", help="config cohort.source (synthetic: chosen.csv says so)")
    _bootstrap_options(e)
    e.set_defaults(func=guard(_evaluate))

    r = sub.add_parser("reader-study", help="reader collaboration table (optional input)",
                       description="Reader study: each reader alone vs with the model (Table 3 layout, "
                       "McNemar per reader), from the manifest's reader_<name>_alone / "
                       "reader_<name>_with_model columns. Without them it writes a skip message, not an error.")
    r.add_argument("--manifest", required=True, help="validated manifest (results/cohort/manifest.csv)")
    r.add_argument("--cases", help="file of case ids that passed ingest (one per line)")
    r.add_argument("--predictions", required=True, help="predictions.csv written by `vfrepro xu2023_vcf train`")
    r.add_argument("--out-csv", required=True, help="output CSV of the collaboration table")
    r.add_argument("--out-md", required=True, help="output Markdown of the collaboration table")
    r.add_argument("--out-png", help="output PNG of Fig 6 (readers' operating points on the model's ROC)")
    _bootstrap_options(r)
    r.set_defaults(func=guard(_readers))
