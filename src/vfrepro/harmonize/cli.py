"""`vfrepro harmonize combat`: ComBat fitted on some rows, applied to all, written as a CSV."""

from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from ..io_safety import read_csv
from .combat import ComBat


def _fail(msg: str):
    raise SystemExit(f"error: vfrepro harmonize combat: {msg}")


def _cmd_combat(a) -> int:
    # the shared reader: absent, empty, semicolon- or tab-separated, not UTF-8 -> one line
    df = read_csv(a.csv, what="--csv")
    cols = list(map(str, df.columns))
    df.columns = cols
    if a.batch not in cols:
        _fail(f"batch column {a.batch!r} not in {a.csv}")
    if a.features:
        feats = [c.strip() for c in a.features.split(",") if c.strip()]
        missing = [c for c in feats if c not in cols]
        if missing:
            _fail(f"feature column(s) {missing} not in {a.csv}")
    else:
        feats = [c for c in cols if c.startswith(a.features_prefix)]
        if not feats:
            _fail(f"no column of {a.csv} starts with {a.features_prefix!r}")
    covs = [c.strip() for c in a.covariates.split(",") if c.strip()] if a.covariates else []
    cats = [c.strip() for c in a.categorical.split(",") if c.strip()] if a.categorical else []
    for c in covs + cats:
        if c not in cols:
            _fail(f"covariate column {c!r} not in {a.csv}")
    overlap = set(covs) & set(feats) | ({a.batch} & (set(feats) | set(covs)))
    if overlap:
        _fail(f"column(s) {sorted(overlap)} used in more than one role (batch / feature / covariate)")
    for c in feats:
        if not pd.api.types.is_numeric_dtype(df[c]):
            _fail(f"feature column {c!r} is not numeric")

    if a.fit_where:
        if "=" not in a.fit_where:
            _fail(f"--fit-where must be COL=VALUE, got {a.fit_where!r}")
        col, val = a.fit_where.split("=", 1)
        if col not in cols:
            _fail(f"--fit-where column {col!r} not in {a.csv}")
        fit_rows = df[col].astype(str) == val
        if not fit_rows.any():
            _fail(f"--fit-where {a.fit_where}: no row has {col} == {val!r}")
    else:
        fit_rows = pd.Series(True, index=df.index)

    model = ComBat(parametric=not a.nonparametric, mean_only=a.mean_only, categorical=cats)
    cov = df[covs] if covs else None
    try:
        model.fit(df.loc[fit_rows, feats], df.loc[fit_rows, a.batch],
                  cov.loc[fit_rows] if cov is not None else None)
        out = model.transform(df[feats], df[a.batch], cov)
    except ValueError as e:
        _fail(str(e))
    res = df.copy()
    res[feats] = out.to_numpy()
    res.to_csv(a.out, index=False, float_format="%.17g")
    if a.save_model:
        model.save(a.save_model)
    info = {"out": str(a.out), "n_rows": int(len(df)), "n_fit": int(fit_rows.sum()), "n_features": len(feats),
            "batches": model.batches_, "covariates": covs,
            "method": ("mean-only " if a.mean_only else "") + ("non-parametric" if a.nonparametric else "parametric"),
            "single_batch_identity": bool(model.identity_), "model": a.save_model}
    sys.stdout.write(json.dumps(info) + "\n")
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``harmonize`` and its ``combat`` sub-command on a ``vfrepro`` subparsers object."""
    h = subparsers.add_parser("harmonize", help="batch harmonisation of features (ComBat)",
                              description="Remove site/scanner effects from features while keeping covariates.")
    sub = h.add_subparsers(dest="harmonize_command", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "combat", help="ComBat fitted on training rows, applied to all rows",
        description="ComBat (empirical Bayes; parametric by default) fitted on the rows selected by --fit-where "
                    "(all rows without it) and applied to every row, each row with its own covariates.  Writes "
                    "--out with every input column, feature columns replaced by harmonised values; prints a JSON "
                    "summary.  Refuses a batch with a single fitted row, a batch seen only outside the fitted "
                    "rows, and covariates confounded with batch.")
    p.add_argument("--csv", required=True, help="input CSV, one row per case")
    p.add_argument("--batch", required=True, help="column with the batch (site / scanner) of each row")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--features-prefix", help="harmonise every column whose name starts with this prefix")
    g.add_argument("--features", help="comma-separated feature columns to harmonise")
    p.add_argument("--covariates", default="",
                   help="comma-separated biological covariates to preserve (numeric = continuous, text = categorical)")
    p.add_argument("--categorical", default="", help="comma-separated numeric covariates to treat as categorical")
    p.add_argument("--fit-where", default=None, metavar="COL=VALUE",
                   help="fit only on rows where column COL equals VALUE (compared as text), e.g. split=train")
    p.add_argument("--nonparametric", action="store_true", help="non-parametric empirical Bayes priors")
    p.add_argument("--mean-only", action="store_true", help="adjust batch means only (no scale adjustment)")
    p.add_argument("--out", required=True, help="output CSV path")
    p.add_argument("--save-model", default=None, help="also write the fitted model (JSON) here")
    p.set_defaults(func=_cmd_combat)
    return h


def main(argv: list[str] | None = None) -> int:
    """Run ``vfrepro harmonize ARGS`` without the top-level CLI (tests, scripts)."""
    parser = argparse.ArgumentParser(prog="vfrepro")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["harmonize", *(argv or [])])
    return int(args.func(args) or 0)
