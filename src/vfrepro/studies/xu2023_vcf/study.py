"""xu2023_vcf's rows and crops for the shared CNN engine, and its evaluation datasets."""

from __future__ import annotations

import pandas as pd

from ...deep.data import CropSpec, check_columns, crop_spec_from_config, patient_split
from ...errors import InputError

STUDY = "xu2023_vcf"
CLASSES = ["acute", "chronic", "pathologic"]
LABEL_COL = "vcf_type"
COLUMNS = ("case_id", "xray_lateral_path", "lat_x0", "lat_y0", "lat_x1", "lat_y1", "vcf_type", "site", "split")
# The paper's external sites in its order (sites 2, 3, 4); the cohort's external sites are
# matched to them in sorted order, and the mapping is written into the table.
PUBLISHED_EXTERNAL = ["GZFPH", "WHTH", "HB672H"]


def crop_spec(cfg: dict) -> CropSpec:
    return crop_spec_from_config(cfg, rotation_deg=15, hflip=True, vflip=True, shift=0.0)


def prepare(table: pd.DataFrame, cfg: dict):
    """Development rows split 8:2 by patient; evaluation rows labelled by dataset:
    'test', 'external <site>' per external site, 'prospective'."""
    check_columns(table, COLUMNS, "xu2023_vcf")
    t = table[table["vcf_type"].isin(CLASSES)].copy()
    if t.empty:
        raise InputError("xu2023_vcf: no fractured vertebrae (vcf_type acute/chronic/pathologic)",
                         field="vcf_type")
    dev = t[t["split"].isin(["train", "internal"])].copy()
    if cfg.get("dev_split", "manifest") == "random":
        is_test = patient_split(dev["case_id"].to_numpy(), float(cfg.get("test_fraction", 0.2)),
                                int(cfg.get("seed", 0)))
    else:
        is_test = (dev["split"] == "internal").to_numpy()
    tr = dev[~is_test].reset_index(drop=True)
    test = dev[is_test].assign(dataset="test")
    ext = t[t["split"] == "external"].copy()
    ext["dataset"] = "external " + ext["site"].astype(str)
    pro = t[t["split"] == "prospective"].assign(dataset="prospective")
    ev = pd.concat([test, ext, pro], ignore_index=True)
    if tr.empty or ev.empty:
        raise InputError(f"xu2023_vcf: {len(tr)} training and {len(ev)} evaluation vertebrae; need both",
                         field="split")
    missing = [c for c in CLASSES if c not in set(tr["vcf_type"])]
    if missing:
        print(f"warning: xu2023_vcf training rows have no {missing} vertebrae; the model cannot "
              f"learn those classes")
    return tr, ev


def dataset_order(names):
    key = {"test": 0, "prospective": 2}
    return sorted(names, key=lambda d: (key.get(d, 1), d))


def published_name(dataset: str, external_sites: list[str]) -> str | None:
    if dataset == "test":
        return "Testing"
    if dataset == "prospective":
        return "Prospective"
    site = dataset.removeprefix("external ")
    i = sorted(external_sites).index(site) if site in external_sites else -1
    return PUBLISHED_EXTERNAL[i] if 0 <= i < len(PUBLISHED_EXTERNAL) else None
