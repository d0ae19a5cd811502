"""`vfrepro stats ...`: recompute a study's statistic from a CSV of predictions.

Every command reads one CSV, takes column names as options and prints one JSON object to
stdout (numbers as plain floats).  Bad input exits with a message naming the column.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io_safety import read_csv
from . import icc as _icc
from . import lasso as _lasso
from . import multiclass as _mc
from . import paired as _paired
from . import roc as _roc

DIRECTION_HELP = ("which way the score points: '<' (default) = a higher score means positive "
                  "(pROC direction '<'); '>' = a lower score means positive.  Unlike pROC's "
                  "default we never choose the direction from the data.")


def _clean(x):
    """JSON-safe: numpy scalars -> float/int, NaN/inf -> null."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    return x


def _emit(obj) -> int:
    sys.stdout.write(json.dumps(_clean(obj)) + "\n")
    return 0


def _read(path: str, *cols: str) -> pd.DataFrame:
    try:
        df = read_csv(path)  # the shared reader: absent, empty, semicolons... in one line
    except InputError as e:
        raise SystemExit(f"error: cannot read CSV {path}: {e}")
    cols = tuple(dict.fromkeys(cols))  # the same column may be named twice (e.g. --score-a = --score-b)
    for c in cols:
        if c not in df.columns:
            raise SystemExit(f"error: column {c!r} not in {path} (columns: {', '.join(map(str, df.columns))})")
    sub = df[list(cols)]
    bad = [c for c in cols if sub[c].isna().any()]
    if bad:
        raise SystemExit(f"error: column {bad[0]!r} in {path} has {int(sub[bad[0]].isna().sum())} missing values")
    return df


def _num(df, col, path):
    try:
        return pd.to_numeric(df[col], errors="raise").to_numpy(dtype=float)
    except (ValueError, TypeError):
        raise SystemExit(f"error: column {col!r} in {path} is not numeric")


def _guard(fn):
    def run(args):
        try:
            return fn(args)
        except ValueError as e:
            raise SystemExit(f"error: vfrepro stats {args.stats_command}: {e}")
    return run


def _conf_level(text: str) -> float:
    """argparse type: a confidence level strictly between 0 and 1 (0.95, not 95)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}")
    if not 0 < v < 1:
        hint = f" (did you mean {v / 100:g}?)" if 1 < v < 100 else ""
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {text}{hint}")
    return v


_ZERO_ONE = ({"0", "1"}, {"False", "True"}, {"false", "true"}, {"0.0", "1.0"})


def _truth01(df, a):
    """0/1 truth and the positive label as read. Without --positive only 0/1 (or False/True)
    labels are taken; anything else (e.g. 'fracture'/'none', 1/2) is refused, not guessed."""
    raw = df[a.truth].to_numpy()
    if a.positive is None:
        levels = {str(v) for v in pd.unique(raw)}
        if not any(levels <= z for z in _ZERO_ONE):
            shown = ", ".join(sorted(levels)[:10])
            raise SystemExit(f"error: column {a.truth!r} in {a.csv} has labels {shown}, not 0/1: pass "
                             f"--positive LABEL to say which label is the positive class")
    y = _roc.as_binary(raw, a.positive, name=a.truth)
    positive = a.positive if a.positive is not None else str(raw[y == 1][0]) if y.any() else "1"
    return y, positive


def _warn_constant(s, col) -> list[str]:
    if len(s) and np.ptp(s) == 0:
        msg = f"scores in column {col!r} are constant ({s[0]:g}): AUC 0.5 by ties, the model does not rank"
        sys.stderr.write(f"warning: {msg}\n")
        return [msg]
    return []


# ---------------------------------------------------------------------------- commands
def _cmd_auc(a):
    cols = [a.truth, a.score] + ([a.groups] if a.groups else [])
    df = _read(a.csv, *cols)
    y, positive = _truth01(df, a)
    s = _num(df, a.score, a.csv)
    warnings = _warn_constant(s, a.score)
    groups = df[a.groups].astype(str).to_numpy() if a.groups else None
    if groups is not None and _roc.has_repeats(groups):
        # Rows of one group (patient) are not independent: resample groups, whatever --method says.
        r = _roc.cluster_bootstrap_auc_ci(y, s, groups, a.n_boot, a.seed, a.conf_level, a.direction)
    elif a.method == "delong":
        r = _roc.delong_ci(y, s, a.conf_level, a.direction)
    else:
        r = _roc.bootstrap_auc_ci(y, s, a.n_boot, a.seed, a.conf_level, a.direction)
    out = r.as_dict()
    out.update(positive=positive, direction=a.direction, conf_level=a.conf_level)
    if r.method != "delong":
        out.update(n_boot=a.n_boot, seed=a.seed)
    if groups is not None:
        out["n_groups"] = int(len(set(groups)))
    if warnings:
        out["warnings"] = warnings
    return _emit(out)


def _cmd_delong(a):
    df = _read(a.csv, a.truth, a.score_a, a.score_b)
    y, positive = _truth01(df, a)
    sa, sb = _num(df, a.score_a, a.csv), _num(df, a.score_b, a.csv)
    warnings = _warn_constant(sa, a.score_a) + _warn_constant(sb, a.score_b)
    r = _roc.delong_test(y, sa, sb, a.conf_level, a.direction)
    r.update(n_pos=int(y.sum()), n_neg=int(len(y) - y.sum()), positive=positive, direction=a.direction,
             conf_level=a.conf_level)
    if warnings:
        r["warnings"] = warnings
    return _emit(r)


def _split_cols(s: str, opt: str) -> list[str]:
    cols = [c.strip() for c in s.split(",") if c.strip()]
    if not cols:
        raise SystemExit(f"error: {opt} is empty")
    return cols


def _cmd_multiclass(a):
    pcols = _split_cols(a.prob_cols, "--prob-cols")
    cols = [a.truth, *pcols] + ([a.pred_col] if a.pred_col else [])
    df = _read(a.csv, *cols)
    classes = _split_cols(a.classes, "--classes") if a.classes else pcols
    P = np.column_stack([_num(df, c, a.csv) for c in pcols])
    pred = df[a.pred_col].to_numpy() if a.pred_col else None
    warnings = [w for c, col in zip(pcols, P.T) for w in _warn_constant(col, c)]
    groups = None
    if a.groups:
        groups = _read(a.csv, a.groups)[a.groups].astype(str).to_numpy()
    out = _mc.multiclass_table(df[a.truth].to_numpy(), P, classes, pred, a.n_boot, a.seed, a.conf_level,
                               groups=groups)
    if warnings:
        out["warnings"] = warnings
    return _emit(out)


def _cmd_icc(a):
    df = _read(a.csv, a.target, a.rater, a.score)
    df[a.score] = _num(df, a.score, a.csv)
    wide = _icc.long_to_wide(df, a.target, a.rater, a.score)
    res = _icc.icc_all(wide.to_numpy(), 1 - a.conf_level)
    res["n_targets"], res["n_raters"] = int(wide.shape[0]), int(wide.shape[1])
    return _emit(res)


def _cmd_lasso(a):
    if a.features:
        feats = _split_cols(a.features, "--features")
        df = _read(a.csv, a.outcome, *feats)
    else:
        df = _read(a.csv, a.outcome)
        feats = [c for c in df.columns if str(c).startswith(a.features_prefix)]
        if not feats:
            raise SystemExit(f"error: no column of {a.csv} starts with {a.features_prefix!r}")
        df = _read(a.csv, a.outcome, *feats)
    X = pd.DataFrame({c: _num(df, c, a.csv) for c in feats})
    r = _lasso.cv_lasso(X, df[a.outcome].astype(str).to_numpy(), a.nfolds, a.seed, a.n_lambda, a.ratio)
    return _emit(r.as_dict())


def _cmd_paired_t(a):
    df = _read(a.csv, a.a, a.b)
    return _emit(_paired.paired_t(_num(df, a.a, a.csv), _num(df, a.b, a.csv), a.conf_level))


def _cmd_mcnemar(a):
    df = _read(a.csv, a.a, a.b)
    return _emit(_paired.mcnemar(df[a.a].to_numpy(), df[a.b].to_numpy(), exact=a.exact, correct=not a.no_correct))


# ---------------------------------------------------------------------------- parser
def _common(p, boot: bool = False):
    p.add_argument("--csv", required=True, help="input CSV, one row per case")
    p.add_argument("--conf-level", type=_conf_level, default=0.95,
                   help="confidence level of intervals, strictly between 0 and 1 (default 0.95)")
    if boot:
        p.add_argument("--n-boot", type=int, default=1000 if boot == "mc" else 2000,
                       help="bootstrap resamples (default %(default)s)")
        p.add_argument("--seed", type=int, default=0, help="RNG seed; same seed, same CI (default 0)")


def _binary(p):
    p.add_argument("--truth", required=True, help="column with the true class of each case")
    p.add_argument("--positive", default=None,
                   help="label of the positive class in --truth; required unless the labels are 0/1 "
                        "(or False/True), where 1 is positive.  The JSON says which label was positive")
    p.add_argument("--direction", choices=["<", ">"], default="<", help=DIRECTION_HELP)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``stats`` and its sub-commands on a ``vfrepro`` subparsers object."""
    stats = subparsers.add_parser(
        "stats", help="recompute a statistic (AUC, DeLong, ICC, ...) from a CSV; prints JSON",
        description="Statistics used by every study's tables, checked against R (pROC, psych, glmnet). "
                    "Each command reads --csv, takes column names as options and prints one JSON object.")
    sub = stats.add_subparsers(dest="stats_command", required=True, metavar="COMMAND")

    p = sub.add_parser("auc", help="ROC AUC with a 95%% CI (DeLong or stratified bootstrap)",
                       description="ROC AUC with CI.  DeLong: as pROC ci.auc(method='delong'), clipped to [0,1]. "
                                   "Bootstrap: positives and negatives resampled separately, percentile CI. "
                                   "JSON: auc, ci_low, ci_high, method, n_pos, n_neg.")
    _common(p, boot=True)
    _binary(p)
    p.add_argument("--score", required=True, help="column with the model score (higher = more positive)")
    p.add_argument("--method", choices=["delong", "bootstrap"], default="delong", help="CI method (default delong)")
    p.add_argument("--groups", default=None,
                   help="column with a patient id: when a patient has several rows the CI is a cluster "
                        "bootstrap of patients, whatever --method says")
    p.set_defaults(func=_guard(_cmd_auc))

    p = sub.add_parser("delong", help="DeLong test of two correlated ROC curves on the same cases",
                       description="Paired DeLong test (Sun & Xu 2014 fast algorithm), as pROC "
                                   "roc.test(method='delong').  JSON: auc_a, auc_b, z, p (two-sided), "
                                   "ci_low, ci_high (CI of auc_a - auc_b).")
    _common(p)
    _binary(p)
    p.add_argument("--score-a", required=True, help="column with the first model's score")
    p.add_argument("--score-b", required=True, help="column with the second model's score")
    p.set_defaults(func=_guard(_cmd_delong))

    p = sub.add_parser("multiclass", help="one-vs-rest metrics of a K-class model with bootstrap CIs",
                       description="Per class: AUC, accuracy, sensitivity, specificity, PPV, NPV, F1; overall: "
                                   "accuracy, macro and micro AUC.  Percentile CIs from a bootstrap resampling "
                                   "cases within each true class.")
    _common(p, boot="mc")
    p.add_argument("--truth", required=True, help="column with the true class (class name or 0..K-1)")
    p.add_argument("--prob-cols", required=True, help="comma-separated score columns, one per class, e.g. c0,c1,c2")
    p.add_argument("--classes", default=None,
                   help="comma-separated class labels in --prob-cols order (default: the column names)")
    p.add_argument("--pred-col", default=None, help="column with the predicted class (default: argmax of probs)")
    p.add_argument("--groups", default=None,
                   help="column with a patient id: when a patient has several rows the bootstrap resamples "
                        "patients (not class-stratified)")
    p.set_defaults(func=_guard(_cmd_multiclass))

    p = sub.add_parser("icc", help="the six Shrout-Fleiss ICC forms with F-test CIs (as psych::ICC)",
                       description="ICC1, ICC2, ICC3, ICC1k, ICC2k, ICC3k from long-format ratings, each with "
                                   "F, df1, df2, p, ci_low, ci_high; numbers as psych::ICC(lmer=FALSE).  "
                                   "Every target must be scored once by every rater.")
    _common(p)
    p.add_argument("--target", required=True, help="column identifying the rated case (subject)")
    p.add_argument("--rater", required=True, help="column identifying the rater / reader / session")
    p.add_argument("--score", required=True, help="column with the numeric rating")
    p.set_defaults(func=_guard(_cmd_icc))

    p = sub.add_parser("lasso", help="L1 logistic/multinomial regression, lambda by k-fold CV (glmnet-style)",
                       description="Lasso on standardised features, lambda path as glmnet, lambda.min and "
                                   "lambda.1se by CV deviance; reports selected features, coefficients and the path.")
    p.add_argument("--csv", required=True, help="input CSV, one row per case")
    p.add_argument("--outcome", required=True, help="column with the class label (2 classes: binomial; more: multinomial)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--features", help="comma-separated feature columns")
    g.add_argument("--features-prefix", help="use every column whose name starts with this prefix")
    p.add_argument("--nfolds", type=int, default=10, help="CV folds (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fold assignment (default 0)")
    p.add_argument("--n-lambda", type=int, default=100, help="path length (default 100)")
    p.add_argument("--ratio", type=float, default=None,
                   help="lambda_min / lambda_max (default glmnet's: 0.01 if n < p else 1e-4)")
    p.set_defaults(func=_guard(_cmd_lasso))

    p = sub.add_parser("paired-t", help="paired t-test of two readings of the same cases",
                       description="Paired t-test of mean(a - b) = 0, as R t.test(a, b, paired=TRUE).  JSON: "
                                   "mean_diff, t, df, p, ci_low, ci_high, n.")
    _common(p)
    p.add_argument("--a", required=True, help="column with the first reading")
    p.add_argument("--b", required=True, help="column with the second reading")
    p.set_defaults(func=_guard(_cmd_paired_t))

    p = sub.add_parser("mcnemar", help="McNemar test of two paired binary outcomes (exact or chi-square)",
                       description="McNemar test on the discordant pairs.  Default: chi-square with continuity "
                                   "correction (R mcnemar.test); --no-correct: without; --exact: exact binomial.")
    p.add_argument("--csv", required=True, help="input CSV, one row per case")
    p.add_argument("--a", required=True, help="column with the first 0/1 outcome (e.g. correct without AI)")
    p.add_argument("--b", required=True, help="column with the second 0/1 outcome (e.g. correct with AI)")
    p.add_argument("--exact", action="store_true", help="exact binomial test instead of chi-square")
    p.add_argument("--no-correct", action="store_true", help="chi-square without continuity correction")
    p.set_defaults(func=_guard(_cmd_mcnemar))
    return stats


def main(argv: list[str] | None = None) -> int:
    """Run ``vfrepro stats ARGS`` without the top-level CLI (tests, scripts)."""
    parser = argparse.ArgumentParser(prog="vfrepro")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["stats", *(argv or [])])
    return int(args.func(args) or 0)
