"""Tests of the synthetic cohort generator (vfrepro.cohort): determinism, geometry, labels,
mask/bone overlay, reader-2 agreement, site batch effects, radiograph boxes and PHI."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk
from PIL import Image
from scipy import ndimage

from vfrepro.cohort import dicom_writer, labels as L, masks, pathology, phantom, sites, synth
from vfrepro.cohort.synth import generate_cohort

SEED = 11
N = 3


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    out = tmp_path_factory.mktemp("cohort_a")
    return out, generate_cohort(out, N, SEED)


@pytest.fixture(scope="module")
def cohort_again(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    out = tmp_path_factory.mktemp("cohort_b")
    return out, generate_cohort(out, N, SEED)


def read_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def intended_grid(seed: int, index: int, n_sites: int = 4) -> phantom.Grid:
    """Re-derive the grid the generator meant for a patient (same streams, same draws)."""
    rs = synth._streams(seed, index)
    site = sites.make_sites(seed, n_sites)[sites.enrol(seed, index, n_sites).site_index]
    pat = pathology.draw_patient(rs["clinical"])
    verts = pathology.draw_vertebrae(rs["clinical"], pat, list(synth.DEFAULT_LEVELS))
    bodies = phantom.layout(rs["anatomy"], pat, verts)
    return phantom.make_grid(rs["anatomy"], bodies, site)


# ---------------------------------------------------------------- determinism

def _files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def test_same_seed_gives_identical_files(cohort, cohort_again):
    (a, dfa), (b, dfb) = cohort, cohort_again
    assert _files(a) == _files(b)
    for rel in _files(a):
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    pd.testing.assert_frame_equal(dfa, dfb)


def test_different_seed_differs_and_patient_independent_of_cohort_size(cohort, tmp_path):
    a, dfa = cohort
    generate_cohort(tmp_path / "other", 1, SEED + 1)
    generate_cohort(tmp_path / "small", 1, SEED)
    img_a = sitk.GetArrayFromImage(read_series(a / "dicom/SYN0001"))
    img_o = sitk.GetArrayFromImage(read_series(tmp_path / "other/dicom/SYN0001"))
    img_s = sitk.GetArrayFromImage(read_series(tmp_path / "small/dicom/SYN0001"))
    assert img_a.shape != img_o.shape or not np.array_equal(img_a, img_o)
    # A patient's data do not depend on how many patients the cohort has.
    assert np.array_equal(img_a, img_s)
    small = pd.read_csv(tmp_path / "small/manifest.csv")
    cols = [c for c in small.columns if c != "mask_reader2_path"]
    pd.testing.assert_frame_equal(small[cols], pd.read_csv(a / "manifest.csv")[cols].iloc[: len(small)])


def test_fast_dicom_encoder_matches_pydicom(cohort):
    out, _ = cohort
    for f in sorted((out / "dicom/SYN0001").glob("*.dcm"))[:3]:
        ds = pydicom.dcmread(f)
        import io
        buf = io.BytesIO()
        pydicom.dcmwrite(buf, ds, enforce_file_format=True)
        assert buf.getvalue() == f.read_bytes()


# ---------------------------------------------------------------- geometry

def test_dicom_geometry_pydicom_and_simpleitk(cohort):
    out, df = cohort
    site_by_name = {s.name: s for s in sites.make_sites(SEED, 4)}
    for i, pid in enumerate(sorted(df["patient_id"].unique())):
        grid = intended_grid(SEED, i)
        site = site_by_name[df.loc[df.patient_id == pid, "site"].iloc[0]]
        assert grid.spacing == (site.pixel_mm, site.pixel_mm, site.slice_mm)
        img = read_series(out / "dicom" / pid)
        assert img.GetSize() == tuple(reversed(grid.shape))
        np.testing.assert_allclose(img.GetSpacing(), grid.spacing, atol=1e-6)
        np.testing.assert_allclose(img.GetOrigin(), grid.origin, atol=1e-3)
        np.testing.assert_allclose(img.GetDirection(), np.eye(3).ravel(), atol=1e-9)
        files = sorted((out / "dicom" / pid).glob("*.dcm"))
        dss = [pydicom.dcmread(f) for f in files]
        assert len(dss) == grid.shape[0]
        assert len({d.SOPInstanceUID for d in dss}) == len(dss)
        assert len({d.SeriesInstanceUID for d in dss}) == 1
        assert {d.Modality for d in dss} == {"CT"}
        assert dss[0].file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        assert dss[0].SOPClassUID == pydicom.uid.CTImageStorage
        zs = sorted(float(d.ImagePositionPatient[2]) for d in dss)
        np.testing.assert_allclose(np.diff(zs), grid.spacing[2], atol=1e-3)
        assert [float(v) for v in dss[0].ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert float(dss[0].SliceThickness) == pytest.approx(grid.spacing[2])
        assert float(dss[0].RescaleIntercept) == -1024 and float(dss[0].RescaleSlope) == 1
        np.testing.assert_allclose([float(v) for v in dss[0].PixelSpacing], grid.spacing[:2], atol=1e-6)
        # pydicom's HU for one slice equals SimpleITK's.
        d = min(dss, key=lambda d: float(d.ImagePositionPatient[2]))
        hu = pydicom.pixels.apply_rescale(d.pixel_array, d)
        np.testing.assert_array_equal(hu, sitk.GetArrayFromImage(img)[0])
        # Masks and lesion map sit in exactly the series' geometry.
        for rel in ("masks/%s_reader1.nii.gz", "lesions/%s_lesion.nii.gz"):
            m = sitk.ReadImage(str(out / (rel % pid)))
            assert m.GetSize() == img.GetSize()
            np.testing.assert_allclose(m.GetSpacing(), img.GetSpacing(), atol=1e-5)
            np.testing.assert_allclose(m.GetOrigin(), img.GetOrigin(), atol=1e-3)
            np.testing.assert_allclose(m.GetDirection(), img.GetDirection(), atol=1e-6)


@pytest.mark.skipif(shutil.which("dcm2niix") is None, reason="dcm2niix not on PATH")
def test_dcm2niix_reads_intended_geometry(cohort, tmp_path):
    out, _ = cohort
    grid = intended_grid(SEED, 0)
    subprocess.run(["dcm2niix", "-z", "n", "-f", "ct", "-o", str(tmp_path), str(out / "dicom/SYN0001")],
                   check=True, capture_output=True)
    nii = sitk.DICOMOrient(sitk.ReadImage(str(tmp_path / "ct.nii")), "LPS")
    assert nii.GetSize() == tuple(reversed(grid.shape))
    np.testing.assert_allclose(nii.GetSpacing(), grid.spacing, atol=1e-4)
    np.testing.assert_allclose(nii.GetOrigin(), grid.origin, atol=1e-3)
    series = sitk.GetArrayFromImage(read_series(out / "dicom/SYN0001"))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(nii), series)


# ---------------------------------------------------------------- labels

def test_manifest_validates_against_schema(cohort):
    out, df = cohort
    schema = __import__("yaml").safe_load(
        (Path(synth.__file__).parents[1] / "data/manifest.schema.yaml").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    csv = pd.read_csv(out / "manifest.csv")
    assert list(csv.columns[: len(schema["properties"])]) == list(schema["properties"])
    for _, row in csv.iterrows():
        rec = {}
        for k, v in row.items():
            if isinstance(v, float) and np.isnan(v):
                rec[k] = None
            elif isinstance(v, (np.integer,)):
                rec[k] = int(v)
            elif isinstance(v, (np.floating,)):
                rec[k] = float(v)
            else:
                rec[k] = v
        errors = list(validator.iter_errors(rec))
        assert not errors, errors[0].message
    # Integers are written as integers (no "1.0"), and every referenced file exists.
    raw = pd.read_csv(out / "manifest.csv", dtype=str)
    for col in synth._INT_COLUMNS:
        assert raw[col].dropna().str.fullmatch(r"-?\d+").all(), col
    for col in ("dicom_dir", "mask_path", "lesion_path", "xray_lateral_path", "xray_ap_path"):
        for rel in csv[col]:
            assert (out / rel).exists() and not Path(rel).is_absolute()
    for rel in csv["mask_reader2_path"].dropna():
        assert (out / rel).exists()
    assert csv["mask_reader2_path"].notna().groupby(csv["patient_id"]).any().sum() >= 2


def test_label_systems_are_consistent(cohort):
    _, df = cohort
    check_labels(df)


def check_labels(df: pd.DataFrame) -> None:
    body = df["ao_type"].isin(L.AO_BODY_FRACTURES)
    assert (body == (df["fracture"] == 1)).all()
    assert ((df["vcf_type"] == "none") == (df["fracture"] == 0)).all()
    total = df[["astlof_morphology", "astlof_mri", "astlof_bmd", "astlof_pain"]].sum(axis=1)
    assert (total == df["astlof_total"]).all()
    assert (df["astlof_class"] == df["astlof_total"].map(L.astlof_class)).all()
    assert (df["astlof_morphology"] == df["ao_type"].map(L.ASTLOF_MORPHOLOGY_BY_AO)).all()
    assert (df["astlof_bmd"] == df["t_score"].map(L.astlof_bmd_score)).all()
    assert (df["astlof_pain"] == df["pain"].map(L.ASTLOF_PAIN)).all()
    assert ((df["genant_grade"] > 0) <= (df["fracture"] == 1)).all()
    assert ((df["ovcf"] == 1) <= (df["vcf_type"] == "acute")).all()
    assert ((df["of"] == 1) == (df["vcf_type"] == "chronic")).all()
    assert ((df["kd"] == 1) <= (df["fracture"] == 1)).all()
    assert (df["mask_label"] == df["level"].map(L.level_code)).all()


def test_label_frequencies_on_a_larger_draw():
    """Label draws only (no rendering): frequencies near the papers' and labels consistent."""
    rows = []
    for i in range(400):
        rs = synth._streams(3, i)
        pat = pathology.draw_patient(rs["clinical"])
        for v in pathology.draw_vertebrae(rs["clinical"], pat, list(synth.DEFAULT_LEVELS)):
            rows.append({**{k: getattr(v, k) for k in (
                "level", "fracture", "ao_type", "vcf_type", "genant_grade", "ovcf", "of", "sn", "kd", "ps",
                "astlof_morphology", "astlof_mri", "astlof_bmd", "astlof_pain", "astlof_total",
                "astlof_class")}, "t_score": pat.t_score, "pain": pat.pain})
    df = pd.DataFrame(rows)
    df["mask_label"] = df["level"].map(L.level_code)
    check_labels(df)
    frac = df[df.fracture == 1]
    assert 0.2 < df.fracture.mean() < 0.5
    assert 0.05 < (frac.astlof_class == 2).mean() < 0.2           # liu: ~10% class 2
    assert set(df.ao_type) == set(L.AO_TYPES)
    assert set(frac.vcf_type) == {"acute", "chronic", "pathologic"}
    assert 0.03 < (frac.vcf_type == "pathologic").mean() < 0.15    # xu: 8%
    assert all(df[k].sum() > 5 for k in L.WANG_DISEASES)
    # Co-occurrence exists (multi-label): some vertebra carries two diseases.
    assert (df[list(L.WANG_DISEASES)].sum(axis=1) >= 2).any()


# ---------------------------------------------------------------- masks on bone

def test_masks_overlay_bone_and_reader2_agrees_realistically(cohort):
    out, df = cohort
    dices = []
    for pid in df["patient_id"].unique():
        img = read_series(out / "dicom" / pid)
        hu = sitk.GetArrayFromImage(img)
        lab = sitk.GetArrayFromImage(sitk.ReadImage(str(out / f"masks/{pid}_reader1.nii.gz")))
        rows = df[df.patient_id == pid]
        assert sorted(np.unique(lab)[1:].tolist()) == sorted(rows.mask_label.tolist())
        shift = int(round(20.0 / img.GetSpacing()[1]))       # 20 mm anterior: soft tissue / fat
        for code in rows.mask_label:
            m = lab == code
            assert hu[m].mean() > 150, (pid, code, hu[m].mean())
            moved = np.roll(m, -shift, axis=1)
            assert hu[m].mean() > hu[moved].mean() + 100
        r2 = rows.mask_reader2_path.dropna()
        if len(r2):
            lab2 = sitk.GetArrayFromImage(sitk.ReadImage(str(out / r2.iloc[0])))
            for code in rows.mask_label:
                dices.append(masks.dice(lab == code, lab2 == code))
    assert dices, "no reader-2 masks in the test cohort"
    assert 0.8 <= min(dices) and max(dices) <= 0.97, dices


def test_lesion_map_matches_labels(cohort):
    out, df = cohort
    for pid in df["patient_id"].unique():
        les = sitk.GetArrayFromImage(sitk.ReadImage(str(out / f"lesions/{pid}_lesion.nii.gz")))
        lab = sitk.GetArrayFromImage(sitk.ReadImage(str(out / f"masks/{pid}_reader1.nii.gz")))
        for _, r in df[df.patient_id == pid].iterrows():
            inside = set(np.unique(les[lab == r.mask_label]).tolist())
            assert (L.LESION_CODES["schmorl_node"] in inside) == bool(r.sn)
            assert (L.LESION_CODES["cleft"] in inside) == bool(r.kd)
            assert (L.LESION_CODES["cement"] in inside) == bool(r.ps)
            assert (L.LESION_CODES["lytic"] in inside) == (r.vcf_type == "pathologic")
            assert (L.LESION_CODES["burst_fragment"] in inside) == (r.ao_type in ("A3", "A4"))


def _one_patient(vert_kw: dict, site: sites.SiteProfile, seed: int = 5):
    """Render one patient with one vertebra state forced (for lesion rendering checks)."""
    rng = np.random.default_rng(seed)
    pat = pathology.draw_patient(rng)
    verts = pathology.draw_vertebrae(rng, pat, ["T12", "L1"])
    v = pathology.Vertebra(level="L1", **vert_kw)
    v.trab_hu = pat.trab_hu
    pathology._draw_geometry(np.random.default_rng(1), v)
    verts[1] = v
    verts[0] = pathology.Vertebra(level="T12", trab_hu=pat.trab_hu)
    bodies = phantom.layout(rng, pat, verts)
    grid = phantom.make_grid(rng, bodies, site)
    return pat, phantom.render(rng, pat, bodies, grid, site, np.random.default_rng(2))


def test_rendered_pathology_has_its_density():
    site = sites.make_sites(0, 4)[0]
    kw = dict(fracture=1, etiology="osteoporotic", ao_type="A1", shape="wedge", height_loss=0.4,
              vcf_type="chronic", kd=1, ps=1, sn=1)
    _, ph = _one_patient(kw, site)
    les, hu = ph.lesions, ph.hu_clean
    assert hu[les == L.LESION_CODES["cleft"]].max() < -500
    assert hu[les == L.LESION_CODES["cement"]].min() > 1500
    assert (les == L.LESION_CODES["schmorl_node"]).any()
    assert (les == L.LESION_CODES["sclerotic_margin"]).any()
    # Wedge: the body is shorter anteriorly than posteriorly (height loss is drawn, not only labelled).
    m = ph.labels == L.level_code("L1")
    ys = np.nonzero(m.any(axis=(0, 2)))[0]
    ant, post = m[:, ys[0] + 3, :].any(axis=1).sum(), m[:, ys[-1] - 3, :].any(axis=1).sum()
    assert ant < 0.85 * post
    kw = dict(fracture=1, etiology="pathologic", ao_type="A3", shape="burst_sup", height_loss=0.3,
              vcf_type="pathologic")
    _, ph = _one_patient(kw, site)
    assert (ph.lesions == L.LESION_CODES["lytic"]).any()
    assert (ph.lesions == L.LESION_CODES["burst_fragment"]).any()
    assert np.median(ph.hu_clean[ph.lesions == L.LESION_CODES["lytic"]]) < 80


# ---------------------------------------------------------------- batch effects

def test_site_batch_effect_in_trabecular_bone():
    """Same patient on each site's scanner: trabecular mean and SD differ by site."""
    stats = []
    for site in sites.make_sites(0, 4):
        _, ph = _one_patient(dict(), site, seed=9)
        m = ph.labels == L.level_code("L1")
        core = ndimage.binary_erosion(m, np.ones((1, 7, 7), bool), iterations=1)
        core &= ndimage.binary_erosion(m, np.ones((3, 1, 1), bool))
        vals = ph.hu[core]
        stats.append((vals.mean(), vals.std(), site.name))
    means = np.array([s[0] for s in stats])
    sds = np.array([s[1] for s in stats])
    assert means.max() - means.min() > 10, stats
    assert sds.max() / sds.min() > 1.2, stats


# ---------------------------------------------------------------- radiographs

def test_radiograph_boxes(cohort):
    out, df = cohort
    for pid, rows in df.groupby("patient_id"):
        rows = rows.sort_values("mask_label")
        for view in ("lat", "ap"):
            path = rows["xray_lateral_path" if view == "lat" else "xray_ap_path"].iloc[0]
            img = np.asarray(Image.open(out / path))
            assert img.dtype == np.uint8 and img.ndim == 2
            h, w = img.shape
            x0, y0, x1, y1 = (rows[f"{view}_{k}"].to_numpy() for k in ("x0", "y0", "x1", "y1"))
            assert (x0 >= 0).all() and (y0 >= 0).all() and (x1 <= w).all() and (y1 <= h).all()
            assert (x0 < x1).all() and (y0 < y1).all()
            assert (np.diff(y0) > 0).all() and (np.diff(y1) > 0).all()   # superior first, on top
            for a, b, c, d in zip(x0, y0, x1, y1):
                assert img[b:d, a:c].mean() > img.mean()                # bone is bright
    # Lateral boxes sit anterior (left), where the bodies are; AP boxes are centred.
    r = df.iloc[0]
    w_ap = np.asarray(Image.open(out / r.xray_ap_path)).shape[1]
    assert abs((r.ap_x0 + r.ap_x1) / 2 - w_ap / 2) < 0.15 * w_ap


# ---------------------------------------------------------------- PHI

def test_phi_in_headers_not_in_manifest(cohort):
    out, df = cohort
    text = (out / "manifest.csv").read_text()
    for pid in df["patient_id"].unique():
        ds = pydicom.dcmread(next((out / "dicom" / pid).glob("*.dcm")))
        assert "^" in str(ds.PatientName) and str(ds.PatientID).startswith("MRN")
        assert len(str(ds.PatientID)) == 10 and str(ds.PatientID) != pid
        assert ds.PatientBirthDate and ds.InstitutionName and ds.AccessionNumber
        for value in (str(ds.PatientName), str(ds.PatientID), ds.AccessionNumber, ds.InstitutionName,
                      str(ds.PatientName).split("^")[0], ds.PatientBirthDate):
            assert value not in text, value


# ---------------------------------------------------------------- CLI

def test_cli_synth(tmp_path, capsys):
    from vfrepro.cohort import cli
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["synth", "--out", str(tmp_path), "--n-patients", "1", "--seed", "2",
                              "--sites", "3"])
    assert args.func(args) == 0
    assert "1 patients" in capsys.readouterr().out
    assert (tmp_path / "manifest.csv").exists()
