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
DEV_SPLITS = ("stratified", "random", "manifest")

# Readings of the paper and of the authors' public code (github Xiongyuchao/VCFNet:
# VCFNet.ipynb, dataset_split.ipynb), and values neither gives: (setting, value, reason).
CHOSEN = [
    ("development split", "8:2 by patient, stratified by class (dev_split: stratified)",
     "the paper splits 8:2 'randomly'; the authors' dataset_split.ipynb draws 80% of the images of "
     "each class, so one patient's vertebrae can fall on both sides: here every patient is on one "
     "side (StratifiedGroupKFold, 5 folds, the first fold holding every class the cohort allows)"),
    ("development sites", "the manifest's train + internal rows",
     "the paper's development set is site 1 alone; the cohort's development rows may span sites"),
    ("optimiser (paper preset)", "Adam, lr 2e-4, weight decay 5e-4, batch 128, no scheduler",
     "not in the paper; VCFNet.ipynb's defaults"),
    ("initialisation (paper preset)", "ImageNet-pretrained ResNet-18, every layer trained",
     "VCFNet.ipynb: pretrained=True, freeze=False"),
    ("epochs", "fixed count (paper preset 25), final epoch's model kept",
     "the paper stopped 'after 25 epochs, with no further improvement ... on training, and testing' "
     "and VCFNet.ipynb saves every epoch: the epoch was chosen on the test set; a fixed count "
     "avoids that"),
    ("loss", "unweighted cross-entropy (paper preset)", "VCFNet.ipynb: nn.CrossEntropyLoss()"),
    ("augmentation", "horizontal + vertical flip (p 0.5), rotation within +-15 deg",
     "paper: flips and rotations 'at random angles'; the angle from VCFNet.ipynb (RandomRotation(15))"),
    ("crop", "the vertebra's lateral box plus a margin, resized to the input size",
     "paper: manual LabelImg boxes resized to 224 x 224; the margin is not given"),
]


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
    how = cfg.get("dev_split", "stratified")
    if how not in DEV_SPLITS:
        raise InputError(f"xu2023_vcf: dev_split must be one of {DEV_SPLITS}, not {how!r}", field="dev_split")
    if how in ("stratified", "random"):
        # by patient; "stratified" keeps every class in the test split where the cohort allows
        is_test = patient_split(dev["case_id"].to_numpy(), float(cfg.get("test_fraction", 0.2)),
                                int(cfg.get("seed", 0)),
                                y=dev["vcf_type"].to_numpy() if how == "stratified" else None)
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
