"""qu2025_mil's cohort of bags, its split, training on the shared engine and prediction.

- :func:`build_bags`: every vertebra of the manifest -> its S and Z bags (bags.vertebra_bags),
  each slice resized to ``bags.size`` so that one cohort file holds them all
  (:func:`save_bags` / :func:`load_bags`, one ``.npz`` plus a per-vertebra table).
- :func:`split`: which vertebrae train and which validate (the manifest's split, or an 80/20
  split by patient stratified by AO type).
- :func:`fit_view`: one view's model (AlexNet features -> gated attention) trained by
  vfrepro.deep.train.train_model with the MILTask adapter on the training bags only.
- :func:`predict_view`: bag probabilities, attention per slice and instance-head scores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
import torch
from torchvision.transforms import v2

from ...errors import InputError
from . import labels as L
from .bags import Bag, BagSpec, FRACTURE_LESION_CODES, vertebra_bags
from .dataset import BagDataset, DEMO_TRANSFORMS
from .model import DEFAULT_LOSS_WEIGHTS, GatedAttentionMIL, MILTask, alexnet_backbone

__all__ = ["STUDY", "CLASSES", "COLUMNS", "CHOSEN", "bag_spec", "build_bags", "save_bags",
           "load_bags", "split", "build_model", "fit_view", "predict_view", "transform_spec"]

STUDY = "qu2025_mil"
CLASSES = list(L.AO_CLASSES)
COLUMNS = ("case_id", "mask_label", "ao_type", "split")
META_COLUMNS = ["case_id", "patient", "mask_label", "level", "ao_type", "split", "site",
                "S_label", "Z_label", "has_instance_labels"]

CHOSEN: list[tuple[str, str, str]] = [
    ("unit", "one bag pair (S, Z) per vertebra of the manifest (T11-L2 here, 4 per patient)",
     "the paper has one fractured vertebra per case plus healthy cases; every vertebra of "
     "the synthetic cohort is a case here, split by patient"),
    ("split", "from config: the manifest's split (train rows train; internal, external and "
     "prospective rows are the validation set) or random 80/20 by patient stratified by AO type",
     "the paper splits 80/20 train/validation without saying how"),
    ("stored_size", "each slice resized to bags.size x bags.size (antialiased) when the bags are "
     "cut", "one cohort file; the transforms' resize to R follows"),
    ("optimiser_lr_epochs", "from config (listed in chosen.csv with their values)",
     "the paper gives none of them"),
]


def bag_spec(cfg: dict) -> BagSpec:
    b = dict(cfg.get("bags", {}))
    return BagSpec(n_slices=int(b.get("n_slices", 5)), window_width=float(b.get("window_width", 1500)),
                   window_level=float(b.get("window_level", 400)), margin_mm=float(b.get("margin_mm", 6)),
                   posterior_mm=float(b.get("posterior_mm", 45)),
                   lesion_margin_mm=float(b.get("lesion_margin_mm", 3)),
                   min_lesion_voxels=int(b.get("min_lesion_voxels", 1)), lesion_codes=FRACTURE_LESION_CODES)


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(images))[:, None]
    return v2.functional.resize(t, [size, size], antialias=True)[:, 0].numpy()


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or str(v) == ""


def _read(path, case, field):
    p = Path(str(path))
    if not p.is_file():
        raise InputError("file not found", case=case, path=str(p), field=field)
    return sitk.ReadImage(str(p))


def build_bags(table: pd.DataFrame, preprocess_dir, cfg: dict, progress=None):
    """Bags of every vertebra (row) of ``table``: (arrays, meta, messages).

    arrays: ``{S,Z}_images`` uint8 [V, n, size, size], ``{S,Z}_instance`` int8 [V, n] (-1
    unknown), ``{S,Z}_positions`` [V, n]. meta: one row per vertebra (META_COLUMNS). Images are
    read once per case from ``<preprocess_dir>/<case>/{image,mask_reader1}.nii.gz``.
    """
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"qu2025_mil: the manifest lacks column(s) {missing}", field=missing[0])
    spec = bag_spec(cfg)
    size = int(cfg.get("bags", {}).get("size", 72))
    t = table[table["ao_type"].isin(CLASSES)].reset_index(drop=True)
    if t.empty:
        raise InputError(f"qu2025_mil: no vertebra has an ao_type in {CLASSES}", field="ao_type")
    arrays = {f"{v}_{k}": [] for v in L.VIEWS for k in ("images", "instance", "positions")}
    meta, messages = [], []
    for case, rows in t.groupby("case_id", sort=True):
        d = Path(preprocess_dir) / str(case)
        image = _read(d / "image.nii.gz", case, "image")
        mask = _read(d / "mask_reader1.nii.gz", case, "mask_path")
        lp = rows["lesion_path"].iloc[0] if "lesion_path" in rows.columns else None
        lesion = None if _blank(lp) else _read(lp, case, "lesion_path")
        for r in rows.to_dict("records"):
            bags = vertebra_bags(image, mask, int(r["mask_label"]), lesion, case=str(case),
                                 ao_type=str(r["ao_type"]), spec=spec,
                                 image_path=str(d / "image.nii.gz"),
                                 mask_path=str(d / "mask_reader1.nii.gz"),
                                 lesion_path=None if lesion is None else str(lp))
            for v in L.VIEWS:
                b = bags[v]
                arrays[f"{v}_images"].append(_resize(b.images, size))
                inst = b.instance_labels
                arrays[f"{v}_instance"].append(np.full(spec.n_slices, -1, np.int8) if inst is None
                                               else np.asarray(inst, np.int8))
                arrays[f"{v}_positions"].append(np.asarray(b.positions, np.int32))
            if bags["S"].message and bags["S"].message not in messages:
                messages.append(bags["S"].message)
            meta.append({"case_id": str(case), "patient": str(r.get("patient_id", case) if not
                                                              _blank(r.get("patient_id")) else case),
                         "mask_label": int(r["mask_label"]), "level": r.get("level", ""),
                         "ao_type": str(r["ao_type"]), "split": r.get("split", ""),
                         "site": r.get("site", ""), "S_label": bags["S"].label,
                         "Z_label": bags["Z"].label, "has_instance_labels": lesion is not None})
        if progress:
            progress(case)
    out = {k: np.stack(v) for k, v in arrays.items()}
    return out, pd.DataFrame(meta, columns=META_COLUMNS), messages


def save_bags(path, arrays: dict, meta: pd.DataFrame) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays, **{f"meta_{c}": meta[c].astype(str).to_numpy().astype("U") for c in meta.columns})


def load_bags(path) -> tuple[dict, pd.DataFrame]:
    """(arrays, meta) as :func:`build_bags` gives them."""
    if not Path(path).is_file():
        raise InputError("bags file not found (run `vfrepro qu2025_mil bags`)", path=str(path))
    z = np.load(path, allow_pickle=False)
    meta = pd.DataFrame({c: z[f"meta_{c}"] for c in META_COLUMNS})
    meta["mask_label"] = meta["mask_label"].astype(int)
    meta["has_instance_labels"] = meta["has_instance_labels"] == "True"
    return {k: z[k] for k in z.files if not k.startswith("meta_")}, meta


def view_bags(arrays: dict, meta: pd.DataFrame, view: str, rows=None) -> list[Bag]:
    """Bag objects of one view for the meta rows ``rows`` (default all), in that order."""
    idx = range(len(meta)) if rows is None else rows
    out = []
    for i in idx:
        inst = arrays[f"{view}_instance"][i]
        r = meta.iloc[i]
        out.append(Bag(case_id=r["case_id"], mask_label=int(r["mask_label"]), view=view,
                       images=arrays[f"{view}_images"][i], positions=list(arrays[f"{view}_positions"][i]),
                       instance_labels=None if (inst < 0).all() else inst, ao_type=r["ao_type"],
                       label=r[f"{view}_label"]))
    return out


def split(meta: pd.DataFrame, cfg: dict) -> np.ndarray:
    """Boolean array: True = training vertebra. ``split.mode`` "manifest": rows whose split is in
    ``split.train`` train, rows in ``split.validation`` validate (others are dropped: returned
    as neither, see :func:`roles`); "random": an 80/20 (``split.validation_fraction``) split by
    patient, stratified by the patient's AO type (its most frequent fracture type, AZ if none)."""
    return roles(meta, cfg) == "train"


def roles(meta: pd.DataFrame, cfg: dict) -> np.ndarray:
    """'train', 'validation' or '' per vertebra (see :func:`split`)."""
    s = dict(cfg.get("split", {}))
    mode = s.get("mode", "manifest")
    if mode == "manifest":
        tr, va = set(s.get("train", ["train"])), set(s.get("validation", ["internal", "external", "prospective"]))
        if tr & va:
            raise InputError(f"qu2025_mil split: {sorted(tr & va)} both train and validation", field="split")
        out = np.where(meta["split"].isin(tr), "train", np.where(meta["split"].isin(va), "validation", ""))
    elif mode == "random":
        from sklearn.model_selection import train_test_split
        frac = float(s.get("validation_fraction", 0.2))
        per = meta.groupby("patient")["ao_type"].agg(
            lambda a: pd.Series([x for x in a if x != L.AZ] or [L.AZ]).mode().iloc[0])
        strat = per.to_numpy()
        counts = pd.Series(strat).value_counts()
        strat = np.where(pd.Series(strat).map(counts).to_numpy() >= 2, strat, "rare")
        _, val = train_test_split(per.index.to_numpy(), test_size=frac, random_state=int(cfg.get("seed", 0)),
                                  stratify=strat if pd.Series(strat).value_counts().min() >= 2 else None)
        out = np.where(meta["patient"].isin(set(val)), "validation", "train")
    else:
        raise InputError(f"qu2025_mil split.mode must be manifest or random, got {mode!r}", field="split.mode")
    if not (out == "train").any() or not (out == "validation").any():
        raise InputError(f"qu2025_mil: {(out == 'train').sum()} training and {(out == 'validation').sum()} "
                         "validation vertebrae; need both", field="split")
    return out


def transform_spec(cfg: dict) -> dict:
    return {**DEMO_TRANSFORMS, **dict(cfg.get("transforms", {}))}


def build_model(view: str, cfg: dict, seed: int) -> tuple[GatedAttentionMIL, str]:
    m = dict(cfg.get("model", {}))
    crop = int(transform_spec(cfg)["crop"])
    feats, init = alexnet_backbone(cfg.get("weights") or None, seed=seed, weights_key="qu2025_mil.weights")
    model = GatedAttentionMIL(feats, n_classes=len(CLASSES), feature_dim=int(m.get("feature_dim", 128)),
                              attn_dim=int(m.get("attn_dim", 64)),
                              n_super=len(L.SUPER_CLASSES) if view == "Z" else None,
                              dropout=float(m.get("dropout", 0.25)), probe_size=(3, crop, crop))
    return model, init


def task_for(view: str, cfg: dict) -> MILTask:
    loss = {**DEFAULT_LOSS_WEIGHTS, **{k: v for k, v in dict(cfg.get("loss", {})).items()
                                       if k in DEFAULT_LOSS_WEIGHTS}}
    term = dict(cfg.get("loss", {})).get("z_instance_term", "ce")
    return MILTask(view, loss, term, az_index=L.class_index(L.AZ))


def fit_view(view: str, train_bags: list[Bag], cfg: dict, log_csv=None, checkpoint=None,
             progress: bool = False):
    """Train one view's model on ``train_bags`` only. Gives (TrainResult, init text)."""
    from ...deep.train import TrainConfig, train_model
    seed = int(cfg.get("seed", 0))
    tc = TrainConfig.from_dict({**dict(cfg.get("train", {})), "seed": seed, "progress": progress})
    model, init = build_model(view, cfg, seed)
    ds = BagDataset(train_bags, view, transform_spec(cfg), train=True)
    res = train_model(model, ds, tc, log_csv=log_csv, checkpoint=checkpoint, desc=f"qu2025_mil {view}",
                      task=task_for(view, cfg))
    return res, init


def predict_view(model, view: str, bags: list[Bag], cfg: dict) -> dict:
    from ...deep.train import predict
    tc = dict(cfg.get("train", {}))
    ds = BagDataset(bags, view, transform_spec(cfg), train=False)
    return predict(model, ds, batch_size=32, device=tc.get("device", "auto"), amp=bool(tc.get("amp", True)),
                   task=task_for(view, cfg))
