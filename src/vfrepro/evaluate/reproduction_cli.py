"""`vfrepro tables`, `vfrepro reproduction` and `vfrepro reproduction-report`: a study's tables,
figures and verdicts from a predictions file alone; the verdicts of a run; the reviewer summary.

A study takes part through its ``<package>.tables`` module: ``REPRODUCTION_INPUTS`` (the tables
under results/<study>/ its ``reproduced_long(folder)`` reads) for the verdicts, and
``PREDICTION_MODELS`` + ``from_predictions(paths, out, cfg, infos)`` (the evaluate stage's own
functions) for the ``tables`` verb; optionally ``PREDICTION_EXTRAS`` (the evaluate stage's other
inputs it takes, passed as ``extras=``) and ``predictions_long(out)`` (the verdict's long form of
what predictions give, when ``reproduced_long`` reads more). A study without them is skipped
(reproduction) or refused with the reason (tables). docs/reproduction.md documents all of it.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pandas as pd

from .. import registry
from ..errors import InputError
from ..studies.cli_common import guard, parse_cfg

FOREST = "reproduction_forest.png"
SYNTHETIC_WARNING = ("**SYNTHETIC COHORT.** These verdicts were computed on the generated (synthetic) "
                     "cohort: they test the machinery (the pipeline runs, the tables fill, the verdict rules "
                     "apply), not the papers. A verdict about a paper needs the real cohort "
                     "(`cohort.source: manifest`).")


def tables_module(study: str):
    """The study's tables module (its reproduction hooks), or None."""
    try:
        return importlib.import_module(f"{registry.get(study).package}.tables")
    except ModuleNotFoundError:
        return None


def has_reproduction(study: str) -> bool:
    """Whether the study maps its reproduced tables to the verdict's long form."""
    mod = tables_module(study)
    return mod is not None and hasattr(mod, "reproduced_long")


def _pairs(items, names, what):
    out = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep:
            name, path = names[0], item
        if name not in names:
            raise InputError(f"{what} {item!r}: {name!r} is not one of {list(names)} (give NAME=FILE)", field=what)
        if name in out:
            raise InputError(f"{what}: {name!r} given twice", field=what)
        out[name] = Path(path)
    return out


def _extra(value, names, what):
    """One FILE (a Path) or NAME=FILE pairs (a dict by model / view)."""
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if len(items) == 1 and "=" not in str(items[0]):
        return Path(items[0])
    return _pairs([str(i) for i in items], names, what)


def tables(study: str, predictions, out, cfg: dict | None = None, infos=None,
           extras: dict | None = None) -> pd.DataFrame:
    """Validate the predictions file(s), write the study's tables and figures (its evaluate
    stage's functions), then ``reproduction.csv`` and the forest plot into ``out``. ``extras``:
    the evaluate stage's optional inputs (``slices``, ``bag_table``, ``detections``) where the
    study's ``PREDICTION_EXTRAS`` names them; None / empty values are ignored."""
    from . import schema, verdict
    s = registry.get(study)
    mod = tables_module(study)
    if mod is None or not hasattr(mod, "from_predictions"):
        raise InputError(f"{study}: its tables need more than predictions (see docs/reproduction.md); "
                         "`vfrepro tables` covers " + ", ".join(n for n in registry.built()
                                                                if hasattr(tables_module(n) or object, "from_predictions")),
                         field="STUDY")
    extras = {k: v for k, v in (extras or {}).items() if v}
    allowed = getattr(mod, "PREDICTION_EXTRAS", ())
    for k in extras:
        if k not in allowed:
            raise InputError(f"{study}: --{k.replace('_', '-')} is not an input of its tables "
                             f"(it takes {', '.join('--' + a.replace('_', '-') for a in allowed) or 'none'})",
                             field=f"--{k.replace('_', '-')}")
    paths = _pairs(predictions, list(mod.PREDICTION_MODELS), "--predictions")
    if not paths:
        raise InputError("give at least one --predictions file", field="--predictions")
    for path in paths.values():
        df = schema.read(path, s.classes, multilabel=s.multilabel)
        schema.check_patient_splits(df, path)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    infos = _pairs(infos, list(mod.PREDICTION_MODELS), "--infos") or None
    kw = {"extras": {k: _extra(v, list(mod.PREDICTION_MODELS), f"--{k.replace('_', '-')}")
                     for k, v in extras.items()}} if extras else {}
    mod.from_predictions(paths, out, cfg or {}, infos, **kw)
    long = getattr(mod, "predictions_long", mod.reproduced_long)(out)
    return verdict.reproduce(study, long, out / "reproduction.csv", out / FOREST)


def reproduction(study: str, results, out_csv, out_png) -> pd.DataFrame:
    from . import verdict
    mod = tables_module(study)
    if mod is None or not hasattr(mod, "reproduced_long"):
        raise InputError(f"{study} has no reproduced_long in its tables module", field="STUDY")
    return verdict.reproduce(study, mod.reproduced_long(results), out_csv, out_png)


def report(studies: list[str], cohort: str, out, results="results") -> str:
    """The reviewer summary (Markdown): the cohort, per study the verdict counts and links to
    its tables and figures (relative to the summary's folder)."""
    from . import published as pub
    from . import verdict
    out = Path(out)
    base = out.parent
    synthetic = cohort == "synthetic"
    lines = ["# Reproduction report", "",
             f"Cohort: **{'synthetic (generated)' if synthetic else 'real (the user manifest)'}**.", ""]
    lines += [SYNTHETIC_WARNING, ""] if synthetic else [
        "Real cohort: each verdict compares a published number with this run's 95% CI.", ""]
    lines += ["Verdict rules: docs/reproduction.md (consistent: the published value lies inside the "
              "reproduced 95% CI).", "",
              "| study | consistent | inconsistent | not evaluable | published numbers |", "|---|---|---|---|---|"]
    body = []
    for study in studies:
        folder = Path(results) / study
        t = pd.read_csv(folder / "reproduction.csv", keep_default_na=False, na_values=[""])
        c = verdict.counts(t)
        lines.append(f"| {study} | {c['consistent']} | {c['inconsistent']} | {c['not evaluable']} | {len(t)} |")
        s = registry.get(study)
        rel = Path(study) if base.resolve() == Path(results).resolve() else folder
        files = [f"[reproduction.csv]({rel / 'reproduction.csv'})", f"[forest plot]({rel / FOREST})"]
        for name in s.targets:  # the study's main tables and figures (patterns: see its folder)
            if "{" not in name and "/" not in name and name.endswith((".csv", ".md", ".png", ".json", ".tex")):
                files.append(f"[{name}]({rel / name})")
        bad = t[t["verdict"] == "inconsistent"]
        body += [f"## {study}", "", f"{s.title}. Published: {pub.load(study).source}.", "",
                 "Files: " + ", ".join(files), ""]
        if len(bad):
            body += ["Inconsistent:", ""] + [f"- {r['source']}, {r['row']} / {r['column']} / {r['quantity']}: "
                                            f"published {r['published']}, reproduced {float(r['reproduced']):.4g} "
                                            f"({r['reproduced_ci_low']:.4g}-{r['reproduced_ci_high']:.4g})"
                                            for r in bad.to_dict("records")] + [""]
    skipped = [n for n in registry.built() if n not in studies]
    if skipped:
        body += ["## Not covered", "", "Built but not in this report (not enabled, or no reproduction stage yet): "
                 + ", ".join(skipped) + ".", ""]
    text = "\n".join(lines + [""] + body)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text


def _cmd_tables(a):
    t = tables(a.study, a.predictions, a.out, parse_cfg(a.cfg), a.infos,
               {"slices": a.slices, "bag_table": a.bag_table, "detections": a.detections})
    c = t["verdict"].value_counts().to_dict()
    print(f"{a.study}: tables, figures and {len(t)} verdicts in {a.out}: {json.dumps(c)}")


def _cmd_reproduction(a):
    t = reproduction(a.study, a.results, a.out_csv, a.out_png)
    print(f"{a.study}: {len(t)} published numbers: {json.dumps(t['verdict'].value_counts().to_dict())}")


def _cmd_report(a):
    print(report(a.studies, a.cohort, a.out, a.results))


def add_parser(subparsers) -> None:
    t = subparsers.add_parser("tables", help="a study's tables, figures and verdicts from predictions alone",
                              description="Regenerate a study's tables, figures, reproduction.csv and forest "
                              "plot from a predictions file in the documented schema (vfrepro.evaluate.schema; "
                              "examples in docs/examples/): no images, no Snakemake.")
    t.add_argument("study", metavar="STUDY", help="a built study (see docs/reproduction.md for which)")
    t.add_argument("--predictions", nargs="+", required=True, metavar="[NAME=]CSV",
                   help="predictions file(s); NAME= the model (backbone / architecture) where the study has several")
    t.add_argument("--infos", nargs="*", metavar="[NAME=]JSON",
                   help="train_info.json (info.json) per model (optional: only provenance reads it)")
    t.add_argument("--slices", nargs="+", metavar="[NAME=]FILE",
                   help="optional: the evaluate stage's slices (qu2025_mil: S=slices.csv Z=slices.csv, the "
                   "per-slice attention; wang2024_twostage: slices.npz, the examples figure)")
    t.add_argument("--bag-table", metavar="CSV", help="optional (qu2025_mil): bags.csv, the label distributions")
    t.add_argument("--detections", metavar="CSV",
                   help="optional (wang2024_twostage): a detector's detections.csv, the examples figure")
    t.add_argument("--cfg", default="", help="the evaluate stage's config keys as JSON (seed, n_boot)")
    t.add_argument("--out", required=True, help="output folder")
    t.set_defaults(func=guard(lambda a: _cmd_tables(a)))

    r = subparsers.add_parser("reproduction", help="verdict per published number of one study's run",
                              description="reproduction.csv (published vs reproduced with 95% CI, difference, "
                              "verdict) and the forest plot, from the study's tables under --results.")
    r.add_argument("study", metavar="STUDY", help="a built study with a reproduction stage")
    r.add_argument("--results", required=True, help="the study's results folder (results/<study>)")
    r.add_argument("--out-csv", required=True, help="output reproduction.csv")
    r.add_argument("--out-png", required=True, help="output forest plot PNG")
    r.set_defaults(func=guard(lambda a: _cmd_reproduction(a)))

    p = subparsers.add_parser("reproduction-report", help="the reviewer summary of every study's verdicts",
                              description="results/reproduction_report.md: the cohort (synthetic stated), "
                              "per study the verdict counts and links to its tables and figures.")
    p.add_argument("--studies", nargs="*", default=[], help="studies whose reproduction.csv exists")
    p.add_argument("--cohort", required=True, choices=["synthetic", "manifest"], help="config cohort.source")
    p.add_argument("--results", default="results", help="the results folder (default: results)")
    p.add_argument("--out", required=True, help="output Markdown")
    p.set_defaults(func=guard(lambda a: _cmd_report(a)))
