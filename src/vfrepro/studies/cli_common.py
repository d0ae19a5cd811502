"""What every study's ``cli`` module shares: the stage config (``--cfg`` JSON, only the keys a
stage reads), the InputError guard, manifest reading and the CNN ``train`` verb."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from .. import io_safety
from ..errors import InputError
from ..registry import config_value

__all__ = ["parse_cfg", "need", "guard", "read_csv", "read_manifest", "write_table", "write_json",
           "study_parser", "add_train", "TRAIN_SUMMARY"]


def parse_cfg(text: str, option: str = "--cfg") -> dict:
    """A stage's config keys, given as one JSON object (empty text: none)."""
    try:
        cfg = json.loads(text) if text else {}
    except json.JSONDecodeError as exc:
        raise InputError(f"{option} is not valid JSON ({exc})", field=option) from None
    if not isinstance(cfg, dict):
        raise InputError(f"{option} must be a JSON object", field=option)
    return cfg


_MISSING = object()


def need(cfg: dict, dotted: str, default=_MISSING):
    """``cfg``'s value at ``"a.b"``; a missing key without default is an InputError naming it."""
    try:
        return config_value(cfg, dotted) if default is _MISSING else config_value(cfg, dotted, default)
    except KeyError:
        raise InputError(f"the stage config lacks key {dotted!r} (pass it in --cfg)", field=dotted) from None


def guard(fn):
    """Run a command; a bad input is one line on stderr and exit code 2, not a traceback."""
    def run(a):
        try:
            return fn(a) or 0
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return run


def read_csv(path, **kw) -> pd.DataFrame:
    """An input CSV; absent, empty, unparsable or semicolon-separated is one-line InputError."""
    return io_safety.read_csv(path, **kw)


def write_table(df: pd.DataFrame, path, index: bool = False) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=index, float_format="%.8g")


def write_json(obj, path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(obj, indent=1, default=float))


def read_manifest(path, cases_file=None) -> pd.DataFrame:
    """The validated manifest, restricted to the cases listed in ``cases_file`` (ingest gate)."""
    t = read_csv(path, dtype={"case_id": str, "site": str, "split": str, "level": str})
    if "case_id" not in t.columns:
        raise InputError("manifest has no case_id column: pass the validated manifest "
                         "(results/cohort/manifest.csv), not the raw one", path=str(path), field="case_id")
    if cases_file:
        keep = {line.strip() for line in Path(cases_file).read_text().splitlines() if line.strip()}
        t = t[t["case_id"].isin(keep)].reset_index(drop=True)
    return t


def study_parser(subparsers, study: str, help_: str):
    """The ``vfrepro <study>`` verb; gives the sub-parsers its stages are added to."""
    p = subparsers.add_parser(study, help=help_,
                              description=f"Stages of the {study} branch; each is one Snakemake rule.")
    return p.add_subparsers(dest="step", required=True, metavar="STEP")


TRAIN_SUMMARY = ("study", "arch", "init", "n_train", "n_eval", "best_setting", "train_accuracy_final",
                 "epochs_run", "device", "seconds")


def add_train(sub, study: str) -> None:
    """The ``train`` verb of a CNN study: the shared engine (vfrepro.deep.run) on its package."""
    def train(a):
        import importlib
        module = importlib.import_module(f"vfrepro.studies.{study}")
        table = read_manifest(a.manifest, a.cases)
        info = importlib.import_module("vfrepro.deep.run").fit_and_predict(
            module, table, a.arch, parse_cfg(a.config_json, "--config-json"), a.out, threads=a.threads,
            progress=not a.no_progress)
        print(json.dumps({k: info[k] for k in TRAIN_SUMMARY}, default=str))

    p = sub.add_parser("train", help="CV grid search by patient, refit, predict",
                       description=f"Train one architecture for {study} with the shared engine: k-fold CV "
                       "over the config grid (folds by patient) on the training rows, refit on all of "
                       "them, predict the evaluation rows.")
    p.add_argument("--arch", required=True, help="torchvision architecture, e.g. resnet18, vgg16")
    p.add_argument("--manifest", required=True, help="validated manifest (results/cohort/manifest.csv)")
    p.add_argument("--cases", help="file of case ids that passed ingest (one per line)")
    p.add_argument("--config-json", required=True, help=f"the {study} config keys the engine reads, as JSON")
    p.add_argument("--out", required=True, help="output folder (model.pt, predictions.csv, logs, train_info.json)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    p.set_defaults(func=guard(train))
