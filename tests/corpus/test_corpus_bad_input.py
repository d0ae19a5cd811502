"""The bad-input corpus of issue 16 (kinds listed in tests/corpus/README.md).

Each case builds its input in tmp, runs the real entry point (`vfrepro ...` through main(argv),
or the config-schema validation the Snakefile runs) and checks: a non-zero exit (never a
traceback), a message naming the case (pseudonym), the file (relative) and the field where they
apply, no patient id, patient folder name or absolute cohort path in the message (or in
results), and where one command handles several cases, that the good cases' outputs are
intact. A few kinds are inputs that must be *accepted* (ok=True), e.g. a mask stored in a
flipped voxel order.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml

from tests.corpus.builders import (FORBIDDEN, PATIENTS, cid, cohort, ct_series, flipped, folder_of,
                                   label_array, mask_like, read_manifest, reference_image, run_cli,
                                   write_manifest)

REPO = Path(__file__).resolve().parents[2]
MASK0 = f"{folder_of(PATIENTS[0])}/mask.nii.gz"  # the first patient's mask, as a message names it
BAD = PATIENTS[2]  # the patient whose input is broken where a command handles several cases


@dataclass
class Case:
    id: str
    what: str
    run: Callable  # run(ctx) -> (rc, text, problems)
    ok: bool = False  # the input must be accepted (rc 0)
    must: tuple = ()  # substrings the message must hold (case-insensitive)
    any_of: tuple = ()  # at least one of these
    case: str | None = None  # patient whose pseudonym must be named
    field: str | None = None  # "field X" / "field 'X'"
    file: str | None = None  # the file, as named (relative)
    rc: int | None = None  # an exact exit status, where the command defines one


CASES: list[Case] = []


def case(id_, what, **kw):
    def deco(fn):
        CASES.append(Case(id_, what, fn, **kw))
        return fn
    return deco


@dataclass
class Ctx:
    tmp: Path
    factory: object
    root: Path | None = None
    extra: list = field(default_factory=list)

    def cohort(self) -> Path:
        self.root = cohort(self.tmp, self.factory)
        return self.root


# ------------------------------------------------------------------ validate-manifest

def _manifest(ctx, edit, studies=""):
    root = ctx.cohort()
    df = read_manifest(root)
    df = edit(df, root)
    if df is not None:
        write_manifest(root, df)
    out = ctx.tmp / "resources" / "validated.csv"
    rc, text = run_cli(["validate-manifest", "--manifest", root / "manifest.csv", "--out", out,
                        "--studies", studies])
    problems = [] if rc == 0 or not out.exists() else ["a refused manifest still wrote --out"]
    return rc, text, problems


def _set(col, value, row=0):
    def edit(df, root):
        df.loc[row, col] = value
        return df
    return edit


def _setp(col, value, pid=PATIENTS[0]):
    """Set a per-patient column on every row of one patient."""
    def edit(df, root):
        df.loc[df["patient_id"] == pid, col] = value
        return df
    return edit


def mcase(id_, what, edit, studies="", **kw):
    kw.setdefault("file", "manifest.csv")
    case(id_, what, **kw)(lambda ctx: _manifest(ctx, edit, studies))


def _drop_col(col):
    return lambda df, root: df.drop(columns=[col])


def _rename_col(old, new):
    return lambda df, root: df.rename(columns={old: new})


def _write_raw(text: bytes):
    def edit(df, root):
        (root / "manifest.csv").write_bytes(text)
        return None
    return edit


def _semicolons(df, root):
    df.to_csv(root / "manifest.csv", index=False, sep=";")


def _latin1(df, root):
    df.loc[:, "site"] = df["site"].map({"A": "Zürich", "B": "Genève"})
    (root / "manifest.csv").write_bytes(df.to_csv(index=False).encode("latin-1"))


def _dup_row(df, root):
    return pd.concat([df, df.iloc[[0]]], ignore_index=True)


def _rel(root, pid, name):
    return f"{folder_of(pid)}/{name}"


mcase("manifest-required-column-missing", "required column mask_label absent", _drop_col("mask_label"),
      must=("mask_label",))
mcase("manifest-column-misspelled", "mask_path spelled 'maks_path'", _rename_col("mask_path", "maks_path"),
      must=("mask_path",))
mcase("manifest-header-only", "header line, no rows", lambda df, root: df.iloc[:0], must=("no rows",))
mcase("manifest-zero-bytes", "a zero-byte manifest file", _write_raw(b""), any_of=("empty", "zero"))
mcase("manifest-semicolon", "semicolon-separated manifest", lambda df, root: _semicolons(df, root),
      any_of=("semicolon", "';'", "delimiter", "separator"))
mcase("manifest-not-utf8", "latin-1 encoded site names", _latin1, any_of=("utf-8", "utf8", "encoding"))
mcase("manifest-duplicate-row", "the same row twice", _dup_row, case=PATIENTS[0], field="level",
      must=("twice",))
mcase("manifest-duplicate-mask-label", "two levels of a patient share one mask_label",
      _set("mask_label", "19", row=1), case=PATIENTS[0], field="mask_label")
mcase("manifest-split-unknown", "split 'training' not in the vocabulary", _set("split", "training"),
      case=PATIENTS[0], must=("split",))
mcase("manifest-split-differs", "split differs between a patient's rows", _set("split", "internal", row=1),
      case=PATIENTS[0], field="split")
mcase("manifest-site-differs", "site differs between a patient's rows", _set("site", "Z", row=1),
      case=PATIENTS[0], field="site")
mcase("manifest-site-blank", "site left blank", _set("site", ""), case=PATIENTS[0], must=("site",))
mcase("manifest-site-punctuation", "site name with spaces and punctuation",
      lambda df, root: df.assign(site=df["site"].replace({"A": "St. Mary's / CT 2"})),
      case=PATIENTS[0], must=("site",))
mcase("manifest-patient-id-blank", "patient_id left blank", _set("patient_id", ""), must=("patient_id",))
mcase("manifest-level-unknown", "level L7 (not a vertebra)", _set("level", "L7"), case=PATIENTS[0],
      must=("level",))
mcase("manifest-level-lowercase", "level 'l1' (lower case)", _set("level", "l1", row=1), case=PATIENTS[0],
      must=("level",))
mcase("manifest-mask-label-zero", "mask_label 0 (background)", _set("mask_label", "0"), case=PATIENTS[0],
      must=("mask_label",))
mcase("manifest-mask-label-float", "mask_label 19.5", _set("mask_label", "19.5"), case=PATIENTS[0],
      must=("mask_label",))
mcase("manifest-mask-label-text", "mask_label 'T12' (a level, not a label)", _set("mask_label", "T12"),
      case=PATIENTS[0], must=("mask_label",))
mcase("manifest-age-negative", "age -3", _set("age", "-3"), case=PATIENTS[0], must=("age",))
mcase("manifest-age-text", "age 'seventy'", _set("age", "seventy"), case=PATIENTS[0], must=("age",))
mcase("manifest-age-too-high", "age 190", _set("age", "190"), case=PATIENTS[0], must=("age",))
mcase("manifest-sex-unknown", "sex 'male'", _set("sex", "male"), case=PATIENTS[0], must=("sex",))
mcase("manifest-fracture-2", "fracture 2 (not 0/1)", _set("fracture", "2"), case=PATIENTS[0],
      must=("fracture",))
mcase("manifest-astlof-class-3", "astlof_class 3 (classes 0-2)", _set("astlof_class", "3"),
      case=PATIENTS[0], must=("astlof_class",))
mcase("manifest-ao-type-unknown", "ao_type 'B1' (not A0-A4/AZ)", _set("ao_type", "B1"), case=PATIENTS[0],
      must=("ao_type",))
mcase("manifest-vcf-type-unknown", "vcf_type 'old'", _set("vcf_type", "old"), case=PATIENTS[0],
      must=("vcf_type",))
mcase("manifest-date-format", "acquired_on '02/01/2024'", _set("acquired_on", "02/01/2024"),
      case=PATIENTS[0], must=("acquired_on",))
mcase("manifest-t-score-range", "t_score -12", _set("t_score", "-12"), case=PATIENTS[0], must=("t_score",))
mcase("manifest-dicom-dir-missing", "dicom_dir names a folder that does not exist",
      _setp("dicom_dir", "MRN7001_Doe^Jane/gone"), case=PATIENTS[0], field="dicom_dir",
      file="MRN7001_Doe^Jane/gone")
mcase("manifest-mask-missing-absolute", "mask_path absolute, absent, with a patient name in it",
      _setp("mask_path", "/data/MRN7001_Doe^Jane/mask.nii.gz"), case=PATIENTS[0], field="mask_path",
      file=None)
mcase("manifest-mask-missing", "mask_path names a file that does not exist",
      _setp("mask_path", "masks/gone.nii.gz"), case=PATIENTS[0], field="mask_path", file="masks/gone.nii.gz")
mcase("manifest-mask-is-folder", "mask_path names a folder", _setp("mask_path", "MRN7001_Doe^Jane/CT"),
      case=PATIENTS[0], field="mask_path", file="MRN7001_Doe^Jane/CT")
mcase("manifest-dicom-dir-is-file", "dicom_dir names a file, not a folder",
      lambda df, root: df.assign(dicom_dir=df["dicom_dir"].where(df["patient_id"] != PATIENTS[0],
                                                                 f"{folder_of(PATIENTS[0])}/mask.nii.gz")),
      case=PATIENTS[0], field="dicom_dir", file="MRN7001_Doe^Jane/mask.nii.gz")
mcase("manifest-mask-not-nifti", "mask_path is a PNG, not a NIfTI",
      lambda df, root: df.assign(mask_path=df["mask_path"].where(df["patient_id"] != PATIENTS[0],
                                                                 f"{folder_of(PATIENTS[0])}/lat.png")),
      case=PATIENTS[0], field="mask_path", file="MRN7001_Doe^Jane/lat.png")
mcase("manifest-lesion-missing", "lesion_path names a file that does not exist",
      _setp("lesion_path", "lesions/gone.nii.gz"), case=PATIENTS[0], field="lesion_path",
      file="lesions/gone.nii.gz")
mcase("manifest-same-dicom-two-patients", "one DICOM folder under two patient ids (train and external)",
      lambda df, root: df.assign(dicom_dir=df["dicom_dir"].iloc[0]), field="dicom_dir",
      must=("2 patients",))
mcase("manifest-same-mask-two-patients", "one mask file under two patient ids",
      lambda df, root: df.assign(mask_path=df["mask_path"].iloc[0]), field="mask_path", must=("2 patients",))
mcase("manifest-unknown-study", "--studies names a study that does not exist", lambda df, root: df,
      studies="liu2025", must=("unknown study",), file=None)


def _ct_only(df, root):
    keep = ["patient_id", "site", "split", "dicom_dir", "mask_path", "mask_label", "level"]
    return df[keep]


# A CT-only cohort: one clear line listing every enabled study's missing columns at once
# (refused, or skipped with that line, as config says).
mcase("manifest-ct-only-study-columns", "CT-only cohort with liu2025_dlr and xu2023_vcf enabled",
      _ct_only, studies="liu2025_dlr,xu2023_vcf", must=("liu2025_dlr", "xu2023_vcf", "astlof_class", "vcf_type"),
      file=None, ok=True)


def _label_blank_unanalysed(df, root):
    df.loc[1, "fracture"] = "0"
    df.loc[1, "astlof_class"] = ""  # liu2025_dlr analyses fractured vertebrae only
    return df


mcase("manifest-label-blank-on-unanalysed-row", "astlof_class blank on a vertebra liu2025_dlr does not analyse",
      _label_blank_unanalysed, studies="liu2025_dlr", ok=True, file=None)


def _mask(transform):
    """Replace the first patient's mask by transform(mask image)."""
    def edit(df, root):
        path = root / folder_of(PATIENTS[0]) / "mask.nii.gz"
        sitk.WriteImage(transform(sitk.ReadImage(str(path))), str(path))
        return df
    return edit


def _arr_mask(fn):
    def t(m):
        out = sitk.GetImageFromArray(fn(sitk.GetArrayFromImage(m)))
        out.CopyInformation(m)
        return out
    return t


mcase("manifest-mask-float-labels", "float mask with non-integer labels (interpolated)",
      _mask(_arr_mask(lambda a: a.astype(np.float32) * 0.97)), case=PATIENTS[0], file=MASK0, field="mask_path")
mcase("manifest-mask-nan", "NaN voxels in the mask", _mask(_arr_mask(lambda a: np.where(
    np.arange(a.size).reshape(a.shape) % 97 == 0, np.nan, a.astype(np.float32)).astype(np.float32))),
      case=PATIENTS[0], file=MASK0, field="mask_path", must=("nan",))
mcase("manifest-mask-one-label", "a mask that is one label everywhere", _mask(_arr_mask(
    lambda a: np.full_like(a, 19))), case=PATIENTS[0], file=MASK0, field="mask_path")
mcase("manifest-mask-other-space", "mask on a grid that does not cover the image (shifted 100 mm)",
      _mask(lambda m: (m.SetOrigin(tuple(np.array(m.GetOrigin()) + 100.0)), m)[1]), case=PATIENTS[0], file=MASK0,
      field="mask_path", any_of=("origin", "cover"))
mcase("manifest-mask-label-absent", "mask_label 21 does not occur in the mask", _set("mask_label", "21", row=1),
      case=PATIENTS[0], file=MASK0, must=("21",), field="mask_label")


# ------------------------------------------------------------------ ingest (a cohort folder)

def _ingest(ctx, build_bad, extra=()):
    root = ctx.cohort()
    bad = root / folder_of(BAD) / "CT"
    shutil.rmtree(bad)
    build_bad(bad)
    table = pd.DataFrame({"case_id": [cid(p) for p in PATIENTS], "site": ["A", "B", "C"],
                          "dicom_dir": [str(root / folder_of(p) / "CT") for p in PATIENTS]})
    validated = ctx.tmp / "resources" / "manifest.validated.csv"
    validated.parent.mkdir(parents=True)
    table.to_csv(validated, index=False)
    out = ctx.tmp / "results" / "ingest"
    rc, text = run_cli(["ingest", "--manifest", validated, "--out", out, *extra])
    problems = []
    qc_path = out / "qc.csv"
    if not qc_path.is_file():
        return rc, text, ["no qc.csv written"]
    qc = pd.read_csv(qc_path, dtype=str, keep_default_na=False).set_index("case_id")
    text += "\n" + qc_path.read_text()  # qc.csv is results/: checked for PHI too
    for pid in PATIENTS[:2]:
        c = cid(pid)
        image = out / "images" / f"{c}.nii.gz"
        if qc.at[c, "status"] != "ok" or not image.is_file():
            problems.append(f"good case {c} not ok: {qc.at[c, 'reason']}")
        elif sitk.ReadImage(str(image)).GetSize() != (48, 48, 8):
            problems.append(f"good case {c} image has the wrong size")
    if qc.at[cid(BAD), "status"] != "failed":
        problems.append(f"bad case passed ingest: {qc.loc[cid(BAD)].to_dict()}")
    if (out / "images" / f"{cid(BAD)}.nii.gz").exists():
        problems.append("bad case has an image")
    return rc, text, problems


def icase(id_, what, build, extra=(), **kw):
    kw.setdefault("case", BAD)
    kw.setdefault("rc", 1)
    case(id_, what, **kw)(lambda ctx: _ingest(ctx, build, extra))


def _files(folder, names):
    folder.mkdir(parents=True)
    for n in names:
        (folder / n).write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64 if n.endswith(".png") else b"hello")


def _edit(fn, at=(3,)):
    def edit(k, ds):
        if k in at:
            fn(ds)
    return edit


def _shift_slice(ds):
    ds.ImagePositionPatient = [ds.ImagePositionPatient[0], ds.ImagePositionPatient[1],
                               float(ds.ImagePositionPatient[2]) + 0.9]


def _mixed_modality(folder):
    ct_series(folder, edit=_edit(lambda ds: setattr(ds, "Modality", "MR"), at=(2,)))


icase("ingest-empty-folder", "dicom_dir is an empty folder", lambda f: f.mkdir(), field="dicom_dir")
icase("ingest-dicom-dir-is-file", "dicom_dir is a file", lambda f: f.write_bytes(b"x"), field="dicom_dir")
icase("ingest-no-dicom-files", "folder holds only a PNG and a text file",
      lambda f: _files(f, ["scan.png", "notes.txt"]), field="dicom_dir")
icase("ingest-modality-mr", "an MR series where CT is required", lambda f: ct_series(f, modality="MR"),
      must=("modality MR",))
icase("ingest-modality-mixed", "one slice of the series says MR", _mixed_modality, must=("modality",),
      file="002.dcm")
icase("ingest-tilt-over-limit", "gantry tilt 40 degrees (limit 30)", lambda f: ct_series(f, tilt_deg=40.0),
      must=("gantry tilt of 40.0 degrees", "max_tilt_deg"))
icase("ingest-tilt-correction-off", "gantry tilt 12 degrees with --no-tilt-correction",
      lambda f: ct_series(f, tilt_deg=12.0), extra=("--no-tilt-correction",), must=("gantry tilt",))
icase("ingest-spacing-irregular", "one slice 0.9 mm off its regular position",
      lambda f: ct_series(f, edit=_edit(_shift_slice)), must=("uneven slice spacing",))
icase("ingest-missing-slice", "one slice absent from the stack", lambda f: ct_series(f, drop=(4,)),
      must=("missing slice",))
icase("ingest-duplicate-position", "two slices at one position", lambda f: ct_series(f, duplicate=(2, 3)),
      must=("duplicate slice positions",))
icase("ingest-mixed-orientation", "one slice with another ImageOrientationPatient",
      lambda f: ct_series(f, orientation_override=(3, [1, 0, 0, 0, 0.8, -0.6])),
      must=("mixed slice orientations",))
icase("ingest-too-few-slices", "a 2-slice series", lambda f: ct_series(f, n=2), must=("min_slices",))
icase("ingest-pixel-spacing-absent", "PixelSpacing absent in a slice", lambda f: ct_series(f, omit_field="PixelSpacing"),
      field="PixelSpacing", file="000.dcm")
icase("ingest-orientation-absent", "ImageOrientationPatient absent in a slice",
      lambda f: ct_series(f, omit_field="ImageOrientationPatient"), field="ImageOrientationPatient", file="000.dcm")
icase("ingest-pixel-spacing-zero", "PixelSpacing 0",
      lambda f: ct_series(f, edit=_edit(lambda ds: setattr(ds, "PixelSpacing", [0, 0]), at=(0,))),
      field="PixelSpacing")


def _from_corrupt(entry):
    """A kind of tests/test_ingest_corrupt.py, run through the `vfrepro ingest` cohort command."""
    kind, options, fault, fld, name = entry

    def build(folder):
        ct_series(folder, **options)
        if fault:
            fault(folder)
    slug = "ingest-" + "-".join(kind.replace("'", "").split()[:5]).lower()
    icase(slug, kind + " (tests/test_ingest_corrupt.py's fault, in a cohort)", build, field=fld, file=name)


def _register_corrupt():
    import tests.test_ingest_corrupt as corrupt

    # its builders make 8-slice series with its own `series`; ours take the same options
    for entry in corrupt.CORRUPT:
        _from_corrupt(entry)


_register_corrupt()


# ------------------------------------------------------------------ preprocess (one case per job)

@lru_cache(maxsize=1)
def _ref() -> sitk.Image:
    return reference_image()


def _preprocess(ctx, mask=None, image=None, labels="19:T12,20:L1", extra=()):
    results = ctx.tmp / "results"
    images = results / "ingest" / "images"
    images.mkdir(parents=True)
    ref = _ref()
    good, bad = cid(PATIENTS[0]), cid(BAD)
    cohort_dir = ctx.tmp / "Kohorte"
    for pid in (PATIENTS[0], BAD):
        (cohort_dir / folder_of(pid)).mkdir(parents=True)
    sitk.WriteImage(ref, str(images / f"{good}.nii.gz"))
    sitk.WriteImage(mask_like(ref), str(cohort_dir / folder_of(PATIENTS[0]) / "mask.nii.gz"))
    img_path = images / f"{bad}.nii.gz"
    mask_path = cohort_dir / folder_of(BAD) / "mask.nii.gz"
    (image or (lambda p: sitk.WriteImage(ref, str(p))))(img_path)
    (mask or (lambda p: sitk.WriteImage(mask_like(ref), str(p))))(mask_path)

    def argv(c, img, msk, labels_=labels, extra_=extra):
        out = results / "preprocess" / c
        out.mkdir(parents=True, exist_ok=True)
        return ["preprocess", "--case-id", c, "--image", img, "--mask", msk, "--labels", labels_,
                "--out-image", out / "image.nii.gz", "--out-mask", out / "mask_reader1.nii.gz",
                "--out-summary", out / "summary.json", *extra_]

    rc_good, text_good = run_cli(argv(good, images / f"{good}.nii.gz",
                                      cohort_dir / folder_of(PATIENTS[0]) / "mask.nii.gz", "19:T12,20:L1", ()))
    problems = [] if rc_good == 0 else [f"good case failed: {text_good}"]
    good_out = results / "preprocess" / good
    before = {p.name: p.read_bytes() for p in good_out.iterdir()}
    rc, text = run_cli(argv(bad, img_path, mask_path))
    after = {p.name: p.read_bytes() for p in good_out.iterdir()}
    if before != after:
        problems.append("the good case's preprocess outputs changed")
    ctx.extra = [good_out, results / "preprocess" / bad]
    return rc, text, problems


def pcase(id_, what, **kw):
    run_kw = {k: kw.pop(k) for k in ("mask", "image", "labels", "extra") if k in kw}
    kw.setdefault("case", BAD)
    case(id_, what, **kw)(lambda ctx: _preprocess(ctx, **run_kw))


def _write(fn):
    return lambda p: sitk.WriteImage(fn(_ref()), str(p))


def _mask_arr(fn, dtype=None):
    def make(ref):
        a = fn(label_array(sitk.GetArrayViewFromImage(ref).shape))
        return mask_like(ref, a.astype(dtype) if dtype else a)
    return _write(make)


def _other_shape(ref):
    m = sitk.GetImageFromArray(label_array((8, 40, 40)))
    m.SetSpacing(ref.GetSpacing())
    m.SetOrigin(ref.GetOrigin())
    m.SetDirection(ref.GetDirection())
    return m


def _other_spacing(ref):
    m = mask_like(ref)
    m.SetSpacing((1.6, 1.6, 4.0))
    return m


def _shifted(ref):
    m = mask_like(ref)
    m.SetOrigin(tuple(np.array(ref.GetOrigin()) + np.array([0.0, 0.0, 60.0])))
    return m


pcase("preprocess-mask-other-shape", "mask 40x40x8 on a 48x48x8 image (not the same space)", mask=_write(_other_shape),
      field="size", file="mask.nii.gz")
pcase("preprocess-mask-other-spacing", "mask with twice the image's spacing", mask=_write(_other_spacing),
      field="spacing", file="mask.nii.gz")
pcase("preprocess-mask-other-space", "mask shifted 60 mm off the image", mask=_write(_shifted),
      field="origin", file="mask.nii.gz")
pcase("preprocess-mask-label-empty", "label 20 (L1) absent from the mask", mask=_mask_arr(lambda a: np.where(a == 20, 0, a)),
      field="mask_label", must=("L1",), file="mask.nii.gz")
pcase("preprocess-mask-label-tiny", "label 20 (L1) has 3 voxels",
      mask=_mask_arr(lambda a: (a.__setitem__(a == 20, 0), a.__setitem__((0, 0, slice(0, 3)), 20), a)[2]),
      field="mask_label", must=("only",))
pcase("preprocess-mask-float", "float mask with non-integer labels", mask=_mask_arr(lambda a: a * 0.97, np.float32),
      field="mask", any_of=("integer", "float"), file="mask.nii.gz")
pcase("preprocess-mask-nan", "NaN voxels in the mask",
      mask=_mask_arr(lambda a: np.where(np.indices(a.shape)[2] == 0, np.nan, a), np.float32),
      must=("nan",), file="mask.nii.gz")
pcase("preprocess-mask-one-label", "mask is one label everywhere", mask=_mask_arr(lambda a: np.full_like(a, 19)),
      file="mask.nii.gz", any_of=("everywhere", "every voxel", "whole", "one label", "only label"))
pcase("preprocess-mask-not-nifti", "mask file is not an image", mask=lambda p: p.write_bytes(b"not an image"),
      file="mask.nii.gz", field="mask")
pcase("preprocess-mask-2d", "a 2-D mask", mask=lambda p: sitk.WriteImage(
      sitk.GetImageFromArray(label_array((8, 48, 48))[4]), str(p)), file="mask.nii.gz")
pcase("preprocess-image-not-nifti", "ingested image file is garbage", image=lambda p: p.write_bytes(b"\0" * 10),
      field="image")
pcase("preprocess-labels-malformed", "--labels 'T12:19' (level first)", labels="T12:19,L1:20", field="--labels",
      case=None)
pcase("preprocess-labels-empty", "--labels ''", labels="", field="--labels", case=None)
pcase("preprocess-spacing-zero", "--spacing 0 1 1", extra=("--spacing", "0", "1", "1"),
      field="preprocess.spacing", must=("--spacing",), case=None)
pcase("preprocess-spacing-negative", "--spacing -1 1 1", extra=("--spacing", "-1", "1", "1"),
      field="preprocess.spacing", must=("--spacing",), case=None)


def _flip_run(ctx):
    """A mask in dcm2niix's voxel order (y flipped) covers the same space: accepted and resampled
    onto the image grid, giving the very mask the unflipped one gives."""
    rc, text, problems = _preprocess(ctx, mask=_write(lambda ref: flipped(mask_like(ref), axis=1)))
    good_out, bad_out = ctx.extra
    if rc == 0:
        a = sitk.GetArrayFromImage(sitk.ReadImage(str(good_out / "mask_reader1.nii.gz")))
        b = sitk.GetArrayFromImage(sitk.ReadImage(str(bad_out / "mask_reader1.nii.gz")))
        if not np.array_equal(a, b):
            problems.append(f"flipped mask resampled differently: {(a != b).sum()} voxels differ")
    return rc, text, problems


case("preprocess-mask-flipped-axis", "mask stored with the y axis flipped (dcm2niix order)", ok=True)(_flip_run)


# ------------------------------------------------------------------ radiomics, ingest-gate

def _radiomics(ctx, params_text=None, extra=()):
    d = ctx.tmp / "results" / "preprocess" / cid(BAD)
    d.mkdir(parents=True)
    ref = _ref()
    sitk.WriteImage(ref, str(d / "image.nii.gz"))
    sitk.WriteImage(mask_like(ref), str(d / "mask_reader1.nii.gz"))
    argv = ["radiomics", "--case-id", cid(BAD), "--image", d / "image.nii.gz", "--mask", d / "mask_reader1.nii.gz",
            "--labels", "19:T12,20:L1", "--out", ctx.tmp / "out.csv", *extra]
    if params_text is not None:
        (ctx.tmp / "params.yaml").write_text(params_text)
        argv += ["--params", ctx.tmp / "params.yaml"]
    return (*run_cli(argv), [])


case("radiomics-params-bad-yaml", "radiomics params file that is not YAML", file="params.yaml",
     must=("yaml",))(lambda ctx: _radiomics(ctx, "setting: {binWidth: 25\nimageType: [["))
case("radiomics-params-unknown-class", "params name a feature class PyRadiomics lacks", file="params.yaml",
     must=("glxm",))(
    lambda ctx: _radiomics(ctx, "featureClass:\n  glxm: []\nsetting: {binWidth: 25}\n"))
case("radiomics-params-missing", "radiomics params file absent", must=("not found",), file="nope.yaml")(
    lambda ctx: (*run_cli(["radiomics", "--case-id", cid(BAD), "--image", "i.nii.gz", "--mask", "m.nii.gz",
                           "--labels", "19:T12", "--params", ctx.tmp / "nope.yaml", "--out", ctx.tmp / "o.csv"]), []))
case("radiomics-bin-width-zero", "--bin-width 0", field="liu2025_dlr.radiomics.bin_width")(
    lambda ctx: _radiomics(ctx, extra=("--bin-width", "0")))
case("radiomics-labels-malformed", "--labels 'L1'", field="--labels")(
    lambda ctx: (*run_cli(["radiomics", "--case-id", cid(BAD), "--image", "i.nii.gz", "--mask", "m.nii.gz",
                           "--labels", "T12:19", "--out", ctx.tmp / "o.csv"]), []))


def _gate(ctx, text):
    qc = ctx.tmp / "qc.csv"
    qc.write_text(text)
    out = ctx.tmp / "passed.txt"
    rc, msg = run_cli(["ingest-gate", "--qc", qc, "--out", out])
    return rc, msg, [] if rc == 0 or not out.exists() else ["gate wrote its case list"]


case("gate-qc-without-status", "ingest-gate on a qc.csv without a status column", file="qc.csv", field="status")(
    lambda ctx: _gate(ctx, "case_id,reason\nc0000000001,\n"))
case("gate-qc-zero-bytes", "ingest-gate on a zero-byte qc.csv", file="qc.csv", any_of=("empty", "zero"))(
    lambda ctx: _gate(ctx, ""))


# ------------------------------------------------------------------ stats, harmonize, liu2025_dlr stages

def _stats(ctx, csv_text, *args):
    (ctx.tmp / "pred.csv").write_text(csv_text)
    return (*run_cli(["stats", *args[:1], "--csv", ctx.tmp / "pred.csv", *args[1:]]), [])


PRED = "truth,score\n" + "".join(f"{t},{s}\n" for t, s in zip([0, 1] * 6, np.linspace(0.1, 0.9, 12).round(3)))
case("stats-conf-level-percent", "--conf-level 95 (a percentage)", must=("--conf-level",))(
    lambda ctx: _stats(ctx, PRED, "auc", "--truth", "truth", "--score", "score", "--conf-level", "95"))
case("stats-truth-strings-no-positive", "truth 'yes'/'no' without --positive", must=("--positive",))(
    lambda ctx: _stats(ctx, PRED.replace(",0.", ",0.").replace("\n0,", "\nno,").replace("\n1,", "\nyes,"),
                       "auc", "--truth", "truth", "--score", "score"))
case("stats-score-column-missing", "--score names a column the CSV lacks", must=("prob",), file="pred.csv")(
    lambda ctx: _stats(ctx, PRED, "auc", "--truth", "truth", "--score", "prob"))
case("stats-score-not-numeric", "score column holds text", must=("score", "not numeric"))(
    lambda ctx: _stats(ctx, PRED.replace("\n0,0.1\n", "\n0,high\n"),
                       "auc", "--truth", "truth", "--score", "score"))
case("stats-truth-missing-values", "truth column with a blank", must=("truth", "missing"))(
    lambda ctx: _stats(ctx, PRED.replace("\n0,", "\n,", 1), "auc", "--truth", "truth", "--score", "score"))
case("stats-constant-scores", "every score the same: a warning, not a silent AUC 0.5", ok=True,
     must=("constant",))(
    lambda ctx: _stats(ctx, "truth,score\n" + "0,0.5\n1,0.5\n" * 6, "auc", "--truth", "truth", "--score", "score"))


def _combat_csv(ctx, text, *extra):
    (ctx.tmp / "features.csv").write_text(text)
    return (*run_cli(["harmonize", "combat", "--csv", ctx.tmp / "features.csv", "--batch", "site",
                      "--features", "f1,f2", "--out", ctx.tmp / "harm.csv", *extra]), [])


FEATS = "site,f1,f2\n" + "".join(f"{s},{i * 1.5 + (s == 'B')},{i % 3}\n" for i, s in enumerate("AABBAABBAABB"))
case("harmonize-csv-zero-bytes", "ComBat on a zero-byte CSV", file="features.csv",
     any_of=("empty", "zero", "no columns"))(
    lambda ctx: _combat_csv(ctx, ""))
case("harmonize-csv-semicolon", "ComBat on a semicolon CSV", file="features.csv",
     any_of=("semicolon", "';'", "delimiter", "separator"))(lambda ctx: _combat_csv(ctx, FEATS.replace(",", ";")))
case("harmonize-batch-missing", "--batch column absent", must=("site",), file="features.csv")(
    lambda ctx: _combat_csv(ctx, FEATS.replace("site,", "centre,")))
case("harmonize-out-is-folder", "--out names an existing folder", field="--out")(
    lambda ctx: (ctx.tmp.joinpath("harm.csv").mkdir(), _combat_csv(ctx, FEATS))[1])
case("harmonize-out-unwritable", "--out in a folder that cannot be made", field="--out")(
    lambda ctx: (ctx.tmp.joinpath("ro").write_text("a file, not a folder"),
                 _combat_csv(ctx, FEATS, "--out", ctx.tmp / "ro" / "harm.csv"))[1])


def _liu_combat(ctx, covariates, edit):
    rows = []
    for i in range(16):
        site = "AB"[i % 2] if i < 12 else "C"
        rows.append(dict(key=f"c{i:010d}:20", case_id=f"c{i:010d}", site=site, split="train" if i < 12 else "external",
                         age=60 + i, sex="FM"[(i // 2) % 2], t_score=-2.0, pain="none", label=i % 3))
    cohort_t = pd.DataFrame(rows)
    cohort_t = edit(cohort_t)
    feats = pd.DataFrame({"key": cohort_t["key"], "original_a": np.arange(16) * 1.0 + (cohort_t["site"] == "B") * 3,
                          "original_b": np.sin(np.arange(16))})
    cohort_t.to_csv(ctx.tmp / "cohort.csv", index=False)
    feats.to_csv(ctx.tmp / "reader1.csv", index=False)
    cfg = json.dumps({"combat": {"covariates": covariates, "parametric": True, "unseen_sites": "estimate"}})
    return (*run_cli(["liu2025_dlr", "combat", "--cfg", cfg, "--cohort", ctx.tmp / "cohort.csv", "--features",
                      ctx.tmp / "reader1.csv", "--out", ctx.tmp / "h.csv", "--model", ctx.tmp / "m.json",
                      "--info", ctx.tmp / "i.json"]), [])


case("combat-covariate-single-level", "ComBat covariate sex has one level in training",
     must=("combat.covariates", "sex"))(
    lambda ctx: _liu_combat(ctx, ["sex"], lambda t: t.assign(sex="F")))
case("combat-covariate-confounded", "ComBat covariate sex confounded with site (A all F, B all M)",
     must=("combat.covariates", "sex", "site"))(
    lambda ctx: _liu_combat(ctx, ["sex"], lambda t: t.assign(sex=t["site"].map({"A": "F", "B": "M", "C": "F"}))))
case("combat-covariate-nan", "ComBat covariate age blank for a training vertebra", must=("combat.covariates", "age"))(
    lambda ctx: _liu_combat(ctx, ["age"], lambda t: t.assign(age=t["age"].where(t.index != 3, np.nan))))
case("liu-cfg-not-json", "--cfg that is not JSON", field="--cfg")(
    lambda ctx: (*run_cli(["liu2025_dlr", "combat", "--cfg", "{covariates: [age]", "--cohort", "c.csv",
                           "--features", "f.csv", "--out", "o.csv", "--model", "m.json", "--info", "i.json"]), []))
case("liu-cfg-key-missing", "--cfg without the combat keys", field="combat.covariates")(
    lambda ctx: _liu_combat_nocfg(ctx))


def _liu_combat_nocfg(ctx):
    _liu_combat(ctx, [], lambda t: t)
    return (*run_cli(["liu2025_dlr", "combat", "--cfg", "{}", "--cohort", ctx.tmp / "cohort.csv", "--features",
                      ctx.tmp / "reader1.csv", "--out", ctx.tmp / "h2.csv", "--model", ctx.tmp / "m2.json",
                      "--info", ctx.tmp / "i2.json"]), [])


# ------------------------------------------------------------------ CLI arguments

case("cli-validate-out-is-folder", "validate-manifest --out names a folder", must=("folder",),
     any_of=("--out", "outdir"))(
    lambda ctx: (ctx.cohort(), (ctx.tmp / "outdir").mkdir(),
                 (*run_cli(["validate-manifest", "--manifest", ctx.root / "manifest.csv", "--out", ctx.tmp / "outdir"]),
                  []))[2])
case("cli-ingest-manifest-missing", "ingest --manifest names no file", must=("not found",), file="gone.csv")(
    lambda ctx: (*run_cli(["ingest", "--manifest", ctx.tmp / "gone.csv", "--out", ctx.tmp / "out"]), []))
case("cli-unknown-subcommand", "vfrepro ingets (typo)", rc=2, must=("invalid choice",))(
    lambda ctx: (*run_cli(["ingets", "--manifest", "m.csv"]), []))
case("cli-ingest-max-tilt-text", "ingest --max-tilt-deg thirty", rc=2, must=("--max-tilt-deg",))(
    lambda ctx: (*run_cli(["ingest", "--manifest", "m.csv", "--out", "o", "--max-tilt-deg", "thirty"]), []))


# ------------------------------------------------------------------ config (the Snakefile's schema)

def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(base.get(k, {}), v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def _schema(over):
    """snakemake.utils.validate on config.yaml + `over`, as workflow/rules/common.smk runs it."""
    from snakemake.utils import validate

    cfg = _merge(yaml.safe_load((REPO / "config.yaml").read_text()), over)
    try:
        validate(cfg, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    except Exception as exc:  # noqa: BLE001 - WorkflowError
        return 1, str(exc), []
    return 0, "", []


def ccase(id_, what, over, key, **kw):
    case(id_, what, must=(key,), **kw)(lambda ctx: _schema(over))


ccase("config-max-tilt-text", "ingest.max_tilt_deg: 'thirty'", {"ingest": {"max_tilt_deg": "thirty"}},
      "['ingest']['max_tilt_deg']")
ccase("config-max-tilt-range", "ingest.max_tilt_deg: 60", {"ingest": {"max_tilt_deg": 60}}, "['ingest']['max_tilt_deg']")
ccase("config-spacing-two-values", "preprocess.spacing: [1, 1]", {"preprocess": {"spacing": [1, 1]}},
      "['preprocess']['spacing']")
ccase("config-spacing-zero", "preprocess.spacing: [0, 1, 1]", {"preprocess": {"spacing": [0, 1, 1]}},
      "['preprocess']['spacing']")
ccase("config-source-unknown", "cohort.source: dicom", {"cohort": {"source": "dicom"}}, "['cohort']['source']")
ccase("config-key-typo", "ingest.exclude_faild (typo)", {"ingest": {"exclude_faild": True}}, "exclude_faild")
ccase("config-bool-as-text", "ingest.exclude_failed: 'yes please'", {"ingest": {"exclude_failed": "yes please"}},
      "['ingest']['exclude_failed']")
ccase("config-batch-size-one", "liu2025_dlr.deep.batch_size: 1", {"liu2025_dlr": {"deep": {"batch_size": 1}}},
      "['liu2025_dlr']['deep']['batch_size']")
ccase("config-icc-threshold-range", "liu2025_dlr.select.icc_threshold: 1.5",
      {"liu2025_dlr": {"select": {"icc_threshold": 1.5}}}, "['liu2025_dlr']['select']['icc_threshold']")
ccase("config-covariate-unknown", "liu2025_dlr.combat.covariates: [bmi]", {"liu2025_dlr": {"combat": {"covariates": ["bmi"]}}},
      "['liu2025_dlr']['combat']['covariates']")
ccase("config-min-slices-text", "ingest.min_slices: '3'", {"ingest": {"min_slices": "3"}}, "['ingest']['min_slices']")


def _dry(ctx, extra_config):
    from tests.conftest import run_snakemake

    run = ctx.tmp / "run"
    run.mkdir()
    proc = run_snakemake(run, "-n", "results/ingest/qc.csv", check=False, extra_config=extra_config)
    return proc.returncode, proc.stdout + proc.stderr, []


case("config-dry-run-schema", "snakemake -n with preprocess.min_mask_voxels: 0 (schema via the Snakefile)",
     must=("min_mask_voxels",))(lambda ctx: _dry(ctx, "preprocess: {min_mask_voxels: 0}\n"))
case("config-manifest-source-without-path", "snakemake -n with cohort.source: manifest and no manifest",
     must=("cohort.manifest",))(lambda ctx: _dry(ctx, "cohort: {source: manifest, manifest: ''}\n"))


# ------------------------------------------------------------------ the test

# A path relative to the cohort root may be named (the issue: "where a path is needed, the path
# relative to the cohort root"); so may the manifest's own path, which the user gave. Nothing
# else: no absolute path under the cohort root, no patient id, no patient folder name.
RELATIVE = re.compile(r"(?<![/\w])MRN700\d_Doe\^Jane/[^\s'\",;)\]]*")


def _leaks(text: str, root: Path) -> list[str]:
    text = text.replace(str(root / "manifest.csv"), "<manifest>")
    found = [str(root)] if str(root) in text else []
    text = RELATIVE.sub("<relative path>", text)
    return found + [s for s in FORBIDDEN if s in text] + [p for p in PATIENTS if p in text]


def _field_named(text: str, name: str) -> bool:
    return any(s in text for s in (f"field {name}", f"field '{name}'", f"field `{name}`"))


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_bad_input_refused_by_name(c: Case, tmp_path, tmp_path_factory):
    rc, text, problems = c.run(Ctx(tmp_path, tmp_path_factory))
    assert rc != "traceback", f"{c.what}: uncaught exception\n{text[-2000:]}"
    if c.ok:
        assert rc == 0, f"{c.what}: should be accepted, got rc {rc}\n{text[-2000:]}"
    else:
        assert rc != 0, f"{c.what}: accepted (rc 0)\n{text[-2000:]}"
        if c.rc is not None:
            assert rc == c.rc, f"{c.what}: rc {rc}, expected {c.rc}\n{text[-2000:]}"
    low = text.lower()
    missing = [s for s in c.must if s.lower() not in low]
    assert not missing, f"{c.what}: message lacks {missing}\n{text[-2000:]}"
    if c.any_of:
        assert any(s.lower() in low for s in c.any_of), f"{c.what}: message has none of {c.any_of}\n{text[-2000:]}"
    if c.case:
        assert cid(c.case) in text, f"{c.what}: case {cid(c.case)} not named\n{text[-2000:]}"
    if c.field:
        assert _field_named(text, c.field), f"{c.what}: field {c.field} not named\n{text[-2000:]}"
    if c.file:
        assert c.file in text, f"{c.what}: file {c.file} not named\n{text[-2000:]}"
    assert not _leaks(text, tmp_path / "Kohorte"), f"{c.what}: message carries {_leaks(text, tmp_path / 'Kohorte')}\n{text[-2000:]}"
    assert not problems, f"{c.what}: {problems}"


def test_corpus_has_at_least_60_kinds_each_in_the_readme():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 60, len(ids)
    readme = (Path(__file__).parent / "README.md").read_text()
    assert not [i for i in ids if f"`{i}`" not in readme], [i for i in ids if f"`{i}`" not in readme]
