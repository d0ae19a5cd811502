"""rosenberg_xray class activation maps: the figure over seeded TP/TN/FP/FN samples, and every
fractured test crop's map against its planted lesion (:mod:`.lesion`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...errors import InputError

GROUPS = ("TP", "TN", "FP", "FN")
RECORD_COLUMNS = ["group", "case_id", "level", "truth", "pred", "prob_fracture", "cam_class", "peak_y_frac",
                  "peak_x_frac"]


def pick(pred: pd.DataFrame, per_group: int, seed: int) -> tuple[list[tuple[str, int]], pd.DataFrame]:
    """Up to ``per_group`` seeded samples of each of TP/TN/FP/FN: [(group, row)], those rows."""
    group = np.select([(pred.truth == "1") & (pred.pred == "1"), (pred.truth == "0") & (pred.pred == "0"),
                       (pred.truth == "0") & (pred.pred == "1")], ["TP", "TN", "FP"], "FN")
    rng = np.random.default_rng(seed)
    picked = []
    for g in GROUPS:
        idx = np.flatnonzero(group == g)
        picked += [(g, i) for i in sorted(rng.permutation(idx)[:per_group])]
    return picked, pred.iloc[[i for _, i in picked]].reset_index(drop=True)


def cam_figure(model_path, pred: pd.DataFrame, table: pd.DataFrame, out_png, per_group: int = 4,
               seed: int = 0, target_layer: str | None = None) -> pd.DataFrame:
    """Draws the CAMs (rows TP, TN, FP, FN) to ``out_png``; gives one record per crop shown
    (where the map peaks, crop-relative, for a reader to check against the lesion)."""
    import torch

    from ...deep.cam import class_activation_maps
    from ...deep.data import CropDataset, CropSpec, load_crops
    from ...deep.run import load_trained
    from ...evaluate.figures import pyplot, save

    model, ck = load_trained(model_path)
    spec = CropSpec(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in ck["crop"].items()})
    picked, rows = pick(pred, per_group, seed)
    src = table.merge(rows[["case_id", "level"]], on=["case_id", "level"], how="right")
    records = []
    ncol = max(1, per_group)
    plt = pyplot()
    fig, axes = plt.subplots(4, ncol, figsize=(2.2 * ncol, 9), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    if len(src):
        crops = load_crops(src, spec)
        ds = CropDataset(crops, np.zeros(len(src), dtype=int), spec, train=False)
        x = torch.stack([ds[i][0] for i in range(len(ds))])
        maps, cls = class_activation_maps(model, ck["arch"], x, target_layer=target_layer)
        counters = {g: 0 for g in GROUPS}
        for i, (g, _) in enumerate(picked):
            r = rows.iloc[i]
            ax = axes[GROUPS.index(g), counters[g]]
            counters[g] += 1
            ax.imshow(crops[i, 0].numpy(), cmap="gray")
            ax.imshow(maps[i], cmap="jet", alpha=0.4)
            ax.set_title(f"{g} {r.case_id[:7]} {r.level}\np(fx)={r.prob_1:.2f}", fontsize=7)
            py, px = np.unravel_index(np.argmax(maps[i]), maps[i].shape)
            records.append({"group": g, "case_id": r.case_id, "level": r.level, "truth": r.truth,
                            "pred": r.pred, "prob_fracture": r.prob_1, "cam_class": ck["classes"][cls[i]],
                            "peak_y_frac": py / maps[i].shape[0], "peak_x_frac": px / maps[i].shape[1]})
    fig.suptitle(f"{ck['arch']} class activation maps (rows TP, TN, FP, FN); init: {ck['init']}"
                 + (f"; layer {target_layer}" if target_layer else ""), fontsize=8)
    save(fig, out_png, 110)
    return pd.DataFrame(records, columns=RECORD_COLUMNS)


LESION_COLUMNS = ["case_id", "level", "truth", "pred", "prob_fracture", "cam_class", "lesion_pixels",
                  "lesion_area_share", "peak_on_lesion", "topk_mass_share"]


def lesion_check(model_path, pred: pd.DataFrame, table: pd.DataFrame, target_layer: str | None = None,
                 batch: int = 32) -> tuple[pd.DataFrame, pd.DataFrame]:
    """CAMs (predicted class) of every fractured test crop against its planted lesion
    (:mod:`.lesion`): (one row per crop, the summary beside the published 81%). A manifest
    without lesion maps (a real cohort) gives no rows and a summary that says so."""
    import torch

    from ...deep.cam import class_activation_maps
    from ...deep.data import CropDataset, CropSpec, load_crops
    from ...deep.run import load_trained
    from ...evaluate import published as pub
    from . import lesion as LS
    from .study import STUDY

    model, ck = load_trained(model_path)
    arch = ck["arch"]
    published = pub.load(STUDY).value(arch, "test", "cam_on_fracture_zone", None)
    fx = pred[pred["truth"].astype(str) == "1"].reset_index(drop=True)
    if not set(LS.NEEDS) <= set(table.columns) or table[list(LS.NEEDS)].isna().all().any():
        empty = pd.DataFrame(columns=LESION_COLUMNS)
        return empty, LS.summary(empty.assign(lesion_pixels=[]), arch, published,
                                 "no planted lesion maps in this cohort's manifest: not measured")
    spec = CropSpec(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in ck["crop"].items()})
    src = fx[["case_id", "level"]].merge(table, on=["case_id", "level"], how="left")
    if src[spec.path_col].isna().any():
        miss = src.loc[src[spec.path_col].isna()].iloc[0]
        raise InputError("predicted test crop not in the manifest", case=str(miss.case_id), field="level")
    crops = load_crops(src, spec)
    masks = LS.crop_masks(src, spec)
    ds = CropDataset(crops, np.zeros(len(src), dtype=int), spec, train=False)
    maps, cls = [], []
    for s in range(0, len(ds), batch):
        x = torch.stack([ds[i][0] for i in range(s, min(s + batch, len(ds)))])
        m, c = class_activation_maps(model, arch, x, target_layer=target_layer)
        maps.append(m)
        cls.append(c)
    maps = np.concatenate(maps) if maps else np.zeros((0, spec.size, spec.size))
    cls = np.concatenate(cls) if cls else np.zeros(0, int)
    h = LS.hits(maps, masks)
    rows = pd.DataFrame({"case_id": fx["case_id"], "level": fx["level"], "truth": fx["truth"].astype(str),
                         "pred": fx["pred"].astype(str), "prob_fracture": fx["prob_1"],
                         "cam_class": [ck["classes"][c] for c in cls]})
    rows = pd.concat([rows, h], axis=1)[LESION_COLUMNS]
    return rows, LS.summary(rows, arch, published)
