"""Small builders of the bad-input corpus (tests/corpus/README.md): a tiny cohort written in
tmp at test time (DICOM from tests/dicomfab.py, masks in the image's geometry, a manifest with
every study's columns), and runners of the real entry points (`vfrepro ...` via main(argv))."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from tests.dicomfab import sphere_slices, write_series
from vfrepro.deid import DEFAULT_SALT, case_id

# Patient ids and folder names that carry "PHI": none of these may reach a message or results.
PATIENTS = ("MRN7001", "MRN7002", "MRN7003")
FORBIDDEN = ("MRN700", "Doe^", "Surname")
LEVELS = ((19, "T12"), (20, "L1"))


def cid(pid: str) -> str:
    return case_id(pid, DEFAULT_SALT)


def folder_of(pid: str) -> str:
    return f"{pid}_Doe^Jane"


def ct_series(folder: Path, n: int = 8, **kw) -> Path:
    """An axial CT stack (48x48 at 0.8 mm, 2 mm step) through a sphere: dicomfab's phantom."""
    slices, row, col = sphere_slices(n=n, size=48, tilt_deg=kw.pop("tilt_deg", 0.0))
    return write_series(folder, slices, row, col, **kw)


def reference_image(n: int = 8) -> sitk.Image:
    """The image `vfrepro ingest` makes of ct_series (its geometry; the masks are drawn on it)."""
    from vfrepro.ingest.run import ingest_case
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        folder = ct_series(Path(tmp) / "ct", n=n)
        row, image = ingest_case("c0000000000", str(folder), None)
    assert row["status"] == "ok", row["reason"]
    return image


def label_array(shape_zyx) -> np.ndarray:
    """Labels 19 (T12) and 20 (L1) as two blocks, each well over min_voxels at 1 mm."""
    a = np.zeros(shape_zyx, np.uint8)
    z = shape_zyx[0]
    a[: z // 2, 14:34, 14:34] = 19
    a[z // 2:, 14:34, 14:34] = 20
    return a


def mask_like(image: sitk.Image, arr: np.ndarray | None = None) -> sitk.Image:
    """A label map on `image`'s grid (the array's own dtype; default label_array)."""
    arr = label_array(sitk.GetArrayViewFromImage(image).shape) if arr is None else arr
    m = sitk.GetImageFromArray(arr)
    m.CopyInformation(image)
    return m


def flipped(image: sitk.Image, axis: int = 1) -> sitk.Image:
    """The same physical image stored in another voxel order: `axis` (0=x, 1=y, 2=z) reversed,
    its direction column negated and the origin moved to the other end (as dcm2niix writes a
    DICOM's row order flipped)."""
    arr = sitk.GetArrayFromImage(image)
    np_axis = 2 - axis
    out = sitk.GetImageFromArray(np.flip(arr, axis=np_axis).copy())
    out.SetSpacing(image.GetSpacing())
    d = np.array(image.GetDirection()).reshape(3, 3)
    n = image.GetSize()[axis]
    origin = np.array(image.GetOrigin()) + d[:, axis] * image.GetSpacing()[axis] * (n - 1)
    d[:, axis] *= -1
    out.SetDirection(tuple(d.ravel()))
    out.SetOrigin(tuple(origin))
    return out


def manifest_rows(pids=PATIENTS[:2], splits=("train", "external"), sites=("A", "B")) -> list[dict]:
    """Manifest rows (relative paths) with every study's columns, 2 vertebrae per patient."""
    rows = []
    for pid, split, site in zip(pids, splits, sites):
        for label, level in LEVELS:
            rows.append(dict(
                patient_id=pid, site=site, split=split, acquired_on="2024-01-02",
                dicom_dir=f"{folder_of(pid)}/CT", mask_path=f"{folder_of(pid)}/mask.nii.gz", mask_label=label,
                mask_reader2_path=None, lesion_path=f"{folder_of(pid)}/lesion.nii.gz", level=level,
                xray_lateral_path=f"{folder_of(pid)}/lat.png", lat_x0=1, lat_y0=2, lat_x1=10, lat_y1=12,
                fracture=1, ao_type="A1", vcf_type="acute", astlof_morphology=1, astlof_mri=1, astlof_bmd=1,
                astlof_pain=1, astlof_total=4, astlof_class=1, ovcf=1, of=0, sn=0, kd=0, ps=0, age=71, sex="F",
                t_score=-2.9, pain="positional"))
    return rows


def write_patient(root: Path, pid: str, image: sitk.Image) -> None:
    base = root / folder_of(pid)
    ct_series(base / "CT")
    sitk.WriteImage(mask_like(image), str(base / "mask.nii.gz"))
    sitk.WriteImage(mask_like(image, np.zeros(sitk.GetArrayViewFromImage(image).shape, np.uint8)),
                    str(base / "lesion.nii.gz"))
    from PIL import Image
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(base / "lat.png")


_TEMPLATE: dict[str, Path] = {}


def template(tmp_factory) -> Path:
    """A cohort folder (3 patients' DICOM, masks, lesion maps, radiographs; manifest.csv of the
    first two), written once per session and copied per case."""
    if "root" not in _TEMPLATE:
        root = tmp_factory.mktemp("template") / "Kohorte"
        image = reference_image()
        for pid in PATIENTS:
            write_patient(root, pid, image)
        pd.DataFrame(manifest_rows()).to_csv(root / "manifest.csv", index=False)
        _TEMPLATE["root"] = root
    return _TEMPLATE["root"]


def cohort(tmp_path: Path, tmp_factory) -> Path:
    """A fresh copy of the template cohort under tmp_path; gives its root."""
    root = tmp_path / "Kohorte"
    shutil.copytree(template(tmp_factory), root)
    return root


def read_manifest(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "manifest.csv", dtype=str, keep_default_na=False)


def write_manifest(root: Path, df: pd.DataFrame) -> None:
    df.to_csv(root / "manifest.csv", index=False)


def run_cli(argv: list[str]) -> tuple[int | str, str]:
    """`vfrepro ARGV` in-process: (exit status, stdout+stderr). An exception that escapes is
    given as rc 'traceback' with its type and message (a bad input must never end so)."""
    from vfrepro.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc: int | str = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code
            if isinstance(code, str):
                err.write(code + "\n")
                rc = 1
            else:
                rc = int(code or 0)
        except Exception as exc:  # noqa: BLE001 - reported as the case's failure
            rc = "traceback"
            err.write(f"{type(exc).__name__}: {exc}\n")
    return rc, out.getvalue() + err.getvalue()
