"""PyRadiomics (3.0.1) features of each vertebra of one case, from the repo's params file.

One call handles one case and one reader: the mask is a label map (VerSe level codes) and
each requested label is extracted on its own binary ROI, cropped to its bounding box plus a
margin (PyRadiomics crops too; cropping first keeps memory and time per vertebra small).
A vertebra that fails (absent label, ROI too small, PyRadiomics error) gives a row with
``status = error`` and the message, so one bad vertebra or case never loses the others.
"""

from __future__ import annotations

import logging
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
import yaml

from vfrepro.errors import InputError

ID_COLUMNS = ["case_id", "mask_label", "level", "reader", "status", "message"]
DEFAULT_PARAMS = "radiomics_params.yaml"
_MARGIN = 6  # voxels around the ROI's bounding box (>= padDistance)


def default_params_path() -> Path:
    return Path(str(resources.files("vfrepro.data").joinpath(DEFAULT_PARAMS)))


def load_params(path: str | Path | None = None, bin_width: float | None = None) -> dict:
    """The params dict of a PyRadiomics YAML file, with binWidth overridden if given."""
    path = Path(path) if path else default_params_path()
    if not path.is_file():
        raise InputError("radiomics params file not found", path=str(path))
    params = yaml.safe_load(path.read_text()) or {}
    params.setdefault("setting", {})
    if bin_width is not None:
        if not bin_width > 0:
            raise InputError(f"bin width must be > 0, got {bin_width}", field="liu2025_dlr.radiomics.bin_width")
        params["setting"]["binWidth"] = float(bin_width)
    params["setting"]["label"] = 1
    return params


def make_extractor(params: dict):
    # Imported here: pyradiomics is heavy and noisy at import.
    from radiomics import featureextractor, setVerbosity

    setVerbosity(logging.ERROR)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        yaml.safe_dump(params, fh)
        tmp = fh.name
    try:
        return featureextractor.RadiomicsFeatureExtractor(tmp)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _crop(image: sitk.Image, binary: np.ndarray):
    """Image and binary mask cropped to the ROI's bounding box + margin (sitk index order)."""
    zz, yy, xx = np.nonzero(binary)
    lo = np.maximum([zz.min() - _MARGIN, yy.min() - _MARGIN, xx.min() - _MARGIN], 0)
    hi = np.minimum([zz.max() + _MARGIN + 1, yy.max() + _MARGIN + 1, xx.max() + _MARGIN + 1], binary.shape)
    size = (hi - lo)[::-1].tolist()
    img = sitk.RegionOfInterest(image, [int(s) for s in size], [int(i) for i in lo[::-1]])
    m = sitk.GetImageFromArray(binary[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]].astype(np.uint8))
    m.CopyInformation(img)
    return img, m


def extract_case(image_path, mask_path, labels: dict[int, str], case_id: str, reader: int,
                 params: dict) -> pd.DataFrame:
    """One row per requested vertebra label: ID columns + ``original_*`` feature columns."""
    for p in (image_path, mask_path):
        if not Path(p).is_file():
            raise InputError("file not found", case=case_id, path=str(p))
    image = sitk.ReadImage(str(image_path), sitk.sitkFloat32)
    mask = sitk.ReadImage(str(mask_path))
    if image.GetSize() != mask.GetSize():
        raise InputError(f"mask size {mask.GetSize()} differs from image size {image.GetSize()}",
                         case=case_id, path=str(mask_path))
    marr = sitk.GetArrayFromImage(mask)
    extractor = make_extractor(params)
    rows = []
    for label, level in labels.items():
        row = {"case_id": case_id, "mask_label": int(label), "level": level, "reader": int(reader),
               "status": "ok", "message": ""}
        try:
            binary = marr == int(label)
            if binary.sum() == 0:
                raise ValueError(f"label {label} ({level}) is absent from the mask")
            img, m = _crop(image, binary)
            result = extractor.execute(img, m, label=1)
            for k, v in result.items():
                if k.startswith("original_"):
                    row[k] = float(np.asarray(v, dtype=float))
        except Exception as exc:  # noqa: BLE001 - recorded per vertebra, others go on
            row["status"], row["message"] = "error", f"{type(exc).__name__}: {exc}"
            logging.getLogger(__name__).warning("case %s label %s: %s", case_id, label, exc)
        rows.append(row)
    return pd.DataFrame(rows)


def parse_labels(text: str) -> dict[int, str]:
    """'20:L1,21:L2' -> {20: 'L1', 21: 'L2'}."""
    out = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        lab, _, level = item.partition(":")
        try:
            out[int(lab)] = level or lab
        except ValueError:
            raise InputError(f"bad label entry {item!r}; expected LABEL:LEVEL", field="--labels") from None
    if not out:
        raise InputError("no labels given", field="--labels")
    return out


def feature_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith("original_")]
