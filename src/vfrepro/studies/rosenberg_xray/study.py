"""rosenberg_xray's rows and crops for the shared CNN engine."""

from __future__ import annotations

import pandas as pd

from ...deep.data import CropSpec, check_columns, crop_spec_from_config
from ...errors import InputError

STUDY = "rosenberg_xray"
CLASSES = ["0", "1"]          # no fracture, fracture (manifest column `fracture`)
CLASS_NAMES = {"0": "no fracture", "1": "fracture"}
LABEL_COL = "fracture"
COLUMNS = ("case_id", "xray_lateral_path", "lat_x0", "lat_y0", "lat_x1", "lat_y1", "fracture", "split")


def crop_spec(cfg: dict) -> CropSpec:
    return crop_spec_from_config(cfg, rotation_deg=10, hflip=True, vflip=False, shift=0.05)


def prepare(table: pd.DataFrame, cfg: dict):
    """Training rows (splits ``train_splits``) and test rows (``test_splits``, dataset 'test')."""
    check_columns(table, COLUMNS, STUDY)
    t = table[table["fracture"].notna()].copy()
    t["fracture"] = t["fracture"].astype(int).astype(str)
    tr = t[t["split"].isin(cfg.get("train_splits", ["train"]))].reset_index(drop=True)
    ev = t[t["split"].isin(cfg.get("test_splits", ["internal"]))].reset_index(drop=True)
    overlap = set(tr["case_id"]) & set(ev["case_id"])
    if overlap:
        raise InputError(f"case(s) in both the training and the test splits: {sorted(overlap)[:5]}",
                         case=sorted(overlap)[0], field="split")
    for name, part in (("training", tr), ("test", ev)):
        n = part["fracture"].value_counts()
        if len(n) < 2:
            raise InputError(f"rosenberg_xray: the {name} rows (splits "
                             f"{cfg.get('train_splits' if name == 'training' else 'test_splits')}) "
                             f"need both fracture classes, found {n.to_dict()}", field="fracture")
    ev["dataset"] = "test"
    return tr, ev


# Readings of the paper and values it leaves out (vfrepro.evaluate.chosen gathers them; the CAM
# check's own list is in .lesion).
CHOSEN = [
    ("trainable.resnet18 (paper preset)", "[layer4]",
     "'the 2 last residual blocks' = ResNet18's two BasicBlocks layer4.0 and layer4.1; the other "
     "reading, the last two stages [layer3, layer4] (four blocks), is a config choice"),
    ("trainable.vgg16 (paper preset)", "features.24-28 + classifier",
     "'the last few layers': which ones is not published"),
    ("train.freeze_bn_stats (paper preset)", "true",
     "frozen layers keep their ImageNet BatchNorm running statistics (eval mode while training); "
     "the paper does not say; the demo trains every layer, so it has no effect there"),
    ("augment interpolation", "bilinear",
     "rotation and shift resample bilinearly (torchvision's RandomAffine default is nearest); "
     "amounts (rotation 10 deg, shift 5%, horizontal flip) are not published"),
    ("margin", "0.1 of the box on each side", "crop margin around the annotated box not published"),
    ("test set", "the manifest's internal split (patients apart from training)",
     "the paper's 52 test crops are not described beyond their number; ours are split by patient"),
    ("decision rule", "argmax of the softmax (p >= 0.5)", "the paper gives no threshold"),
    ("CI unit", "patient (cluster bootstrap) for every AUC CI",
     "several crops come from one patient's radiograph; DeLong treats them as independent"),
    ("model comparison", "DeLong test and, beside it, the paired cluster bootstrap of the AUC difference",
     "the paper compares the two AUCs without a test"),
    ("cv.metric", "pooled out-of-fold score of config cv.metric", "the CV selection criterion is not published"),
]
