"""liu2025_dlr tables from predictions alone (the ``vfrepro tables`` verb) and the reproduced
numbers in the verdict's long form. The computations are evaluation.py's (the pipeline's
``evaluate`` and ``table3`` stages); nothing is copied here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .cohort import BACKBONES, STUDY
from . import evaluation as E

# the tables the reproduction verdict reads (results/liu2025_dlr/...)
REPRODUCTION_INPUTS = ("metrics.csv",)
# the predictions files of one run, one per backbone (``vfrepro tables`` NAME=CSV)
PREDICTION_MODELS = tuple(BACKBONES)


def reproduced_long(results) -> pd.DataFrame:
    """Table 3's numbers from ``metrics.csv`` (accuracy and AUC with their bootstrap 95% CIs,
    per backbone, class or macro, and split) and each backbone's chosen classifier."""
    m = pd.read_csv(Path(results) / "metrics.csv", dtype={"class": str})
    long = E._reproduced(m)
    long["ci_method"] = "stratified bootstrap"
    long["n"] = np.nan
    note = dict(zip(m["backbone"] + "|" + m["split"], m["note"].fillna("")))
    long["reason"] = [("class absent from the split" if not np.isfinite(v) and note.get(f"{b}|{s}") else "")
                      for v, b, s in zip(long["value"].astype(float), long["backbone"], long["column"])]
    best = m.drop_duplicates("backbone")[["backbone", "model"]]
    best = pd.DataFrame({"row": best["backbone"], "column": "", "quantity": "best_model", "value": best["model"]})
    return pd.concat([long.drop(columns=["backbone", "model"]), best], ignore_index=True)


def from_predictions(paths: dict, out: Path, cfg: dict, infos: dict | None = None) -> list[str]:
    """metrics.csv, delong.csv, roc_<backbone>.png and table3.{csv,md,tex} from the backbones'
    predictions files, as the evaluate and table3 stages write them (their functions; Table 3's
    provenance block names this command instead of the deep-feature weights). ``cfg``: ``seed``,
    ``evaluate.n_boot``. Gives the files written."""
    from ...evaluate.figures import roc_figure
    from ...evaluate.schema import read
    from ..cli_common import write_table
    from .cli import CLASS_NAMES
    out = Path(out)
    preds = {bb: read(paths[bb], CLASS_NAMES) for bb in paths}
    n_boot, seed = int(cfg.get("evaluate", {}).get("n_boot", 1000)), int(cfg.get("seed", 0))
    m = E.metrics(preds, n_boot, seed)
    write_table(m, out / "metrics.csv")
    write_table(E.delong(preds), out / "delong.csv")
    files = ["metrics.csv", "delong.csv"]
    for bb, p in preds.items():
        roc_figure(E.roc_panels(p), out / f"roc_{bb}.png", E.roc_title(p, bb), band_boot=min(n_boot, 200), seed=seed)
        files.append(f"roc_{bb}.png")
    # as the table3 stage: metrics read back from the CSV (the same rounding)
    m = pd.read_csv(out / "metrics.csv")
    m["class"] = m["class"].astype(str)
    t, md, tex = E.table3(m, {"source": "vfrepro tables (predictions only)", "seed": seed})
    write_table(t, out / "table3.csv")
    (out / "table3.md").write_text(md)
    (out / "table3.tex").write_text(tex)
    return files + ["table3.csv", "table3.md", "table3.tex"]
