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
from vfrepro.io_safety import parse_label_levels

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
    try:
        params = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise InputError(f"radiomics params file is not valid YAML{at}: {getattr(exc, 'problem', None) or exc}",
                         path=str(path)) from None
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise InputError("radiomics params file must be a YAML mapping (imageType, featureClass, setting)",
                         path=str(path))
    params.setdefault("setting", {})
    if not isinstance(params["setting"], dict):
        raise InputError("radiomics params 'setting' must be a mapping", path=str(path), field="setting")
    if bin_width is not None:
        if not bin_width > 0:
            raise InputError(f"bin width must be > 0, got {bin_width}", field="liu2025_dlr.radiomics.bin_width")
        params["setting"]["binWidth"] = float(bin_width)
    params["setting"]["label"] = 1
    validate_params(params, path)
    return params


def validate_params(params: dict, path=None) -> None:
    """PyRadiomics' own check of a params dict (its pykwalify schema: unknown keys, wrong types,
    unknown feature classes or features), before any image is read; a failure is an InputError
    naming the file and PyRadiomics' reason."""
    import pykwalify.core
    from radiomics import getParameterValidationFiles

    schema, funcs = getParameterValidationFiles()
    level = pykwalify.core.log.level
    pykwalify.core.log.setLevel(logging.CRITICAL)  # it logs the same reasons before raising
    try:
        pykwalify.core.Core(source_data=params, schema_files=[schema], extensions=[funcs]).validate()
    except Exception as exc:  # noqa: BLE001 - pykwalify SchemaError or the schema functions' ValueError
        text = getattr(exc, "msg", None) or str(exc)
        reasons = [ln.strip(" -") for ln in str(text).splitlines() if ln.strip() and "validation failed" not in ln]
        raise InputError(f"radiomics params rejected by PyRadiomics: {'; '.join(reasons) or text}",
                         path=str(path) if path else None) from None
    finally:
        pykwalify.core.log.setLevel(level)


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
    """'20:L1,21:L2' -> {20: 'L1', 21: 'L2'}; a bad, repeated or missing entry: InputError."""
    return parse_label_levels(text, "--labels", "{label}")


def feature_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith("original_")]
