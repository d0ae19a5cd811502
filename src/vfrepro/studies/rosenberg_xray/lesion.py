"""CAM against planted truth: does a fractured crop's class activation map fall on its lesion?

The paper: "In 81% of the single vertebrae, the 'warm zone' correlated to the fracture zone
observed in the corresponding CT or MRI" (surgeons' judgement). The synthetic cohort knows
where each fracture is: its lesion map (``lesion_path``, CT geometry, codes in
:data:`vfrepro.cohort.labels.LESION_CODES`). Here the fracture lesion voxels of a vertebra are
projected along the lateral beam exactly as the radiograph was rendered (cohort.drr), then cut
and resized as the crop was (vfrepro.deep.data), giving a boolean mask per crop. Two readings
of "on the fracture zone", both against the chance level (the mask's share of the crop):

- **peak**: the map's maximum lies on the mask;
- **top-k mass**: of the map's mass in its top ``top_frac`` pixels, the share on the mask
  (a crop counts when that share is at least one half).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ...cohort import labels as L
from ...errors import InputError

# the codes _fracture_signs and the burst draw for a fractured vertebra (not Schmorl nodes,
# clefts or cement, which are other findings)
FRACTURE_CODES = tuple(L.LESION_CODES[k] for k in
                       ("fracture_line", "burst_fragment", "impaction_band", "sclerotic_margin", "lytic"))
TOP_FRAC = 0.10
SHARE_HIT = 0.5
N_BOOT = 1000  # patient bootstrap of the hit fraction (seed 0)
NEEDS = ("lesion_path", "mask_path", "mask_label")

CHOSEN = [
    ("cam.hit_ci", f"patient bootstrap ({N_BOOT} resamples, seed 0) when a patient gives several crops, "
     "else Wilson", "a patient's crops share one radiograph and one model's view of it"),
    ("cam.lesion_truth", "planted lesion map of the synthetic cohort",
     "the paper's 81% is the surgeons' judgement against CT/MRI; here the truth is the lesion the "
     "generator planted, projected along the lateral beam as the radiograph was rendered"),
    ("cam.lesion_codes", "fracture_line, burst_fragment, impaction_band, sclerotic_margin, lytic",
     "the fracture signs; Schmorl nodes, clefts and cement are other findings"),
    ("cam.lesion_slices", "the vertebra's own label slices",
     "a lesion of the vertebra above or below cannot count; A0 (spinous process) lines project "
     "outside the body box and leave the crop without a lesion: such crops are counted apart"),
    ("cam.crops", "every fractured test crop with a lesion in its crop (TP subset reported too)",
     "the paper counts heatmaps without a denominator; a non-fractured crop has no zone to hit"),
    ("cam.class", "the predicted class (as the paper: weights of the predicted class's neuron)",
     "so a false negative's map is the evidence for 'no fracture'"),
    ("cam.mask_resize", "area resize; a crop pixel is on the lesion when its footprint overlaps it",
     "thin fracture lines survive the downsizing to the network input"),
    ("cam.peak", "argmax of the CAM upsampled (bilinear) to the input size",
     "the map's native grid is input/32 (demo 48 px: 2x2), so the peak is coarse"),
    ("cam.top_frac", f"{TOP_FRAC:g} of the pixels; hit when >= {SHARE_HIT:g} of their mass is on the lesion",
     "second reading (not in the paper), less sensitive to a single maximum"),
]


def _read(path, case, field):
    import SimpleITK as sitk
    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise InputError(f"cannot read label map ({str(exc).splitlines()[0] if str(exc) else exc})",
                         case=case, path=str(path), field=field) from None
    return sitk.GetArrayFromImage(img), img.GetSpacing()


def projected_lesion(lesion: np.ndarray, labels: np.ndarray, code: int, spacing) -> np.ndarray:
    """Boolean lateral-radiograph mask (rows superior -> inferior) of the fracture lesion voxels
    in vertebra ``code``'s slices, on the DRR's pixel grid (cohort.drr: lateral = beam along x)."""
    from ...cohort.drr import to_pixels  # the renderer's own resampling: same pixel grid
    sx, sy, sz = spacing
    ks = np.flatnonzero((labels == code).any(axis=(1, 2)))
    if not len(ks):
        return np.zeros(to_pixels(np.zeros(labels.shape[:2], np.float32), sz, sy).shape, bool)
    sel = np.zeros(lesion.shape[0], bool)
    sel[ks[0]:ks[-1] + 1] = True
    hit = np.isin(lesion, FRACTURE_CODES) & sel[:, None, None]
    proj = hit.any(axis=2).astype(np.float32)        # (z, y)
    return to_pixels(proj, sz, sy) >= 0.5


def crop_masks(table: pd.DataFrame, spec, image_shapes: dict | None = None) -> np.ndarray:
    """(n, size, size) boolean lesion masks of the rows' crops, cut (box + margin) and resized
    as :func:`vfrepro.deep.data.load_crops` cuts the radiograph. Rows need :data:`NEEDS`."""
    from ...deep.data import crop_one  # the crop geometry of the network input
    lacking = [c for c in NEEDS if c not in table.columns]
    if lacking:
        raise InputError(f"CAM lesion check needs manifest column(s) {lacking}", field=lacking[0])
    out = np.zeros((len(table), spec.size, spec.size), bool)
    cache: dict = {}
    for i, r in enumerate(table.to_dict("records")):
        case = str(r.get("case_id", "?"))
        key = (r["lesion_path"], r["mask_path"])
        if key not in cache:
            les, sp = _read(r["lesion_path"], case, "lesion_path")
            lab, sp2 = _read(r["mask_path"], case, "mask_path")
            if les.shape != lab.shape:
                raise InputError(f"lesion map {les.shape} and mask {lab.shape} differ in shape", case=case,
                                 path=str(r["lesion_path"]), field="lesion_path")
            cache = {key: (les, lab, sp)}              # rows come grouped by patient
        les, lab, sp = cache[key]
        img = projected_lesion(les, lab, int(r["mask_label"]), sp)
        want = (image_shapes or {}).get(r.get(spec.path_col))
        if want is not None and tuple(want) != img.shape:
            raise InputError(f"projected lesion grid {img.shape} differs from the radiograph {tuple(want)}",
                             case=case, path=str(r["lesion_path"]), field="lesion_path")
        c = crop_one(img.astype(np.float32), [r[b] for b in spec.box_cols], spec.margin, case,
                      str(r["lesion_path"]), spec.box_cols)
        t = torch.nn.functional.interpolate(torch.from_numpy(np.ascontiguousarray(c))[None, None],
                                            size=(spec.size, spec.size), mode="area")[0, 0]
        out[i] = (t > 0).numpy()
    return out


def hits(maps: np.ndarray, masks: np.ndarray, top_frac: float = TOP_FRAC) -> pd.DataFrame:
    """Per crop: lesion area share (chance level of the peak), peak on lesion, top-k mass share."""
    rows = []
    for m, k in zip(maps, masks):
        flat, on = m.ravel(), k.ravel()
        n_top = max(1, int(round(top_frac * flat.size)))
        top = np.argsort(-flat, kind="stable")[:n_top]
        mass = flat[top].sum()
        share = float(flat[top][on[top]].sum() / mass) if mass > 0 else np.nan
        rows.append({"lesion_pixels": int(on.sum()), "lesion_area_share": float(on.mean()),
                     "peak_on_lesion": bool(on[int(np.argmax(flat))]) if on.any() else None,
                     "topk_mass_share": share if on.any() else np.nan})
    return pd.DataFrame(rows)


def summary(per_crop: pd.DataFrame, arch: str, published: float | None = None, note: str = "") -> pd.DataFrame:
    """One row per subset (all fractured crops with a lesion in the crop; the TP among them);
    ``per_crop`` has :func:`hits`' columns and ``pred``. ``note`` replaces the reading (e.g. no
    lesion maps in this cohort)."""
    from ...stats.cluster import proportion_ci
    rows = []
    n_fx = len(per_crop)
    has = per_crop[per_crop["lesion_pixels"] > 0]
    for subset, part in (("fractured", has), ("fractured, predicted fracture (TP)", has[has["pred"] == "1"])):
        n = len(part)
        peak = float(part["peak_on_lesion"].astype(float).mean()) if n else np.nan
        top = float((part["topk_mass_share"] >= SHARE_HIT).mean()) if n else np.nan
        # a patient gives several crops: patients resampled when they repeat (Wilson otherwise)
        ci = proportion_ci(part["peak_on_lesion"].astype(float).to_numpy(),
                           groups=part["case_id"].to_numpy() if "case_id" in part else None,
                           n_boot=N_BOOT, seed=0) if n else None
        lo, hi = (ci["ci_low"], ci["ci_high"]) if ci else (np.nan, np.nan)
        rows.append({"model": arch, "subset": subset, "n_fractured_crops": n_fx,
                     "n_without_lesion_in_crop": int(n_fx - len(has)), "n": n,
                     "peak_hit_fraction": peak, "peak_ci_low": lo, "peak_ci_high": hi,
                     "peak_ci_method": (f"{ci['method']} on n={n} crops of {ci['n_groups']} patients"
                                        + (f"; {ci['note']}" if ci["note"] else "")) if n else "",
                     "topk_hit_fraction": top,
                     "topk_mass_share_mean": float(part["topk_mass_share"].mean()) if n else np.nan,
                     "chance_lesion_area_share": float(part["lesion_area_share"].mean()) if n else np.nan,
                     "published": published,
                     "reading": note or f"peak: CAM maximum on the planted lesion's projection; top-k: >= "
                                f"{SHARE_HIT:g} of the top {TOP_FRAC:.0%} pixels' mass on it; chance: "
                                "the lesion's share of the crop; published: surgeons' judgement "
                                "(warm zone vs CT/MRI fracture zone), not the same criterion"})
    return pd.DataFrame(rows)
