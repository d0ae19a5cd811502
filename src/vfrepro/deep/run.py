"""One branch's training job: CV grid search on the training rows, refit, predict the evaluation rows.

A study module supplies ``CLASSES``, ``LABEL_COL``, ``prepare(table, cfg)`` (training rows and
evaluation rows with a ``dataset`` column) and ``crop_spec(cfg)``; everything else is shared.
Outputs (in ``out_dir``): model.pt (weights + what is needed to use them), predictions.csv
(case_id, level, site, split, dataset, truth, prob_<class>..., pred), epoch_log.csv,
cv_summary.csv / cv_folds.csv (empty with a note when CV is off), train_info.json.
"""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..errors import InputError
from .cv import grid_search, refit
from .data import crop_factory, labels_of, load_crops
from .models import build_model, n_trainable
from .tasks import SingleLabel
from .train import TrainConfig, predict

__all__ = ["train_config", "arch_config", "fit_and_predict", "load_trained"]


def train_config(cfg: dict, seed: int) -> TrainConfig:
    return TrainConfig.from_dict({**cfg.get("train", {}), "seed": seed})


def _arch_opt(cfg: dict, key: str, arch: str, default):
    v = cfg.get(key, {})
    return v.get(arch, default) if isinstance(v, dict) else v


_OVERRIDABLE = {"train": None, "cv": {"folds", "metric", "grid"}}


def arch_config(cfg: dict, arch: str) -> dict:
    """The study config with `arch_overrides[arch]` ("train"/"cv" keys) laid over it; other
    architectures keep the study's settings. An unknown key is an error naming it."""
    over = (cfg.get("arch_overrides") or {}).get(arch) or {}
    out = dict(cfg)
    for section, value in over.items():
        if section not in _OVERRIDABLE or not isinstance(value, dict):
            raise InputError(f"arch_overrides.{arch}.{section}: only 'train' and 'cv' mappings can be overridden",
                             field=f"arch_overrides.{arch}.{section}")
        allowed = _OVERRIDABLE[section] or {f.name for f in fields(TrainConfig)}
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise InputError(f"arch_overrides.{arch}.{section}: unknown key(s) {unknown}",
                             field=f"arch_overrides.{arch}.{section}.{unknown[0]}")
        out[section] = {**cfg.get(section, {}), **value}
    return out


def fit_and_predict(study, table: pd.DataFrame, arch: str, cfg: dict, out_dir, threads: int = 1,
                    progress: bool = True) -> dict:
    cfg = arch_config(cfg, arch)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, threads))
    seed = int(cfg.get("seed", 0))
    train_df, eval_df = study.prepare(table, cfg)
    spec = study.crop_spec(cfg)
    classes = list(study.CLASSES)
    y_tr = labels_of(train_df, study.LABEL_COL, classes)
    y_ev = labels_of(eval_df, study.LABEL_COL, classes)
    train_data = crop_factory(load_crops(train_df, spec), y_tr, spec)
    eval_data = crop_factory(load_crops(eval_df, spec), y_ev, spec)
    task = SingleLabel(len(classes))
    weights = _arch_opt(cfg, "weights", arch, "") or None
    trainable = _arch_opt(cfg, "trainable", arch, "all")
    study_name = study.__name__.rsplit(".", 1)[-1]

    def make_model():
        return build_model(arch, len(classes), weights, trainable, seed=seed,
                           weights_key=f"{study_name}.weights.{arch}")[0]

    probe, init = build_model(arch, len(classes), weights, trainable, seed=seed,
                              weights_key=f"{study_name}.weights.{arch}")
    base = train_config(cfg, seed)
    base.progress = progress
    cv = cfg.get("cv", {})
    k = int(cv.get("folds", 0))
    grid = cv.get("grid", {}) or {}
    if k >= 2:
        per_fold, summary, best = grid_search(make_model, train_data, y_tr, train_df["case_id"].to_numpy(),
                                              base, grid, k, metric=cv.get("metric", "loss"),
                                              seed=seed, log_dir=out / "cv_logs", desc=f"cv {arch}", task=task)
    else:
        per_fold = pd.DataFrame({"note": ["cross-validation off (cv.folds < 2): config setting used"]})
        summary = per_fold.copy()
        best = {}
    per_fold.to_csv(out / "cv_folds.csv", index=False)
    summary.to_csv(out / "cv_summary.csv", index=False)
    res = refit(make_model, train_data, np.arange(len(y_tr)), base, best, log_csv=out / "epoch_log.csv",
                desc=f"refit {arch}", task=task)
    probs = predict(res.model, eval_data(np.arange(len(y_ev)), False), device=res.device, task=task)
    train_probs = predict(res.model, train_data(np.arange(len(y_tr)), False), device=res.device, task=task)
    pred = pd.DataFrame({c: eval_df[c].to_numpy() for c in ("case_id", "level", "site", "split", "dataset")
                         if c in eval_df})
    pred["truth"] = [classes[i] for i in y_ev]
    for j, c in enumerate(classes):
        pred[f"prob_{c}"] = probs[:, j]
    pred["pred"] = [classes[i] for i in probs.argmax(1)]
    pred.to_csv(out / "predictions.csv", index=False)
    final_cfg = asdict(base) | best
    info = {"study": study_name, "arch": arch, "init": init, "classes": classes,
            "n_train": len(train_df), "n_train_patients": int(train_df["case_id"].nunique()),
            "n_eval": len(eval_df), "eval_datasets": eval_df["dataset"].value_counts().sort_index().to_dict(),
            "train_class_counts": dict(zip(classes, np.bincount(y_tr, minlength=len(classes)).tolist())),
            "trainable": trainable, "n_trainable_params": n_trainable(probe),
            "cv_folds": k, "cv_grid": grid, "best_setting": best, "train_config": final_cfg,
            "train_accuracy_final": float((train_probs.argmax(1) == y_tr).mean()),
            "epochs_run": len(res.history), "device": res.device, "seconds": round(res.seconds, 1),
            "crop": asdict(spec), "torch": torch.__version__, "python": platform.python_version()}
    torch.save({"state_dict": res.model.cpu().state_dict(), "arch": arch, "classes": classes,
                "crop": asdict(spec), "init": init, "train_config": final_cfg}, out / "model.pt")
    (out / "train_info.json").write_text(json.dumps(info, indent=1, default=str))
    return info


def load_trained(path) -> tuple[torch.nn.Module, dict]:
    """Rebuild a model saved by :func:`fit_and_predict` (random backbone, then its weights)."""
    ck = torch.load(path, map_location="cpu", weights_only=False)
    model, _ = build_model(ck["arch"], len(ck["classes"]), None, "all")
    model.load_state_dict(ck["state_dict"])
    return model.eval(), ck
