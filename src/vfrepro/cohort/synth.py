"""Generate the synthetic multi-site cohort: DICOM CT, masks, lesion maps, radiographs, manifest.

Each patient's data depend only on (seed, patient index, n_sites): the patient draws
from its own numpy streams (SeedSequence([seed, index]).spawn), so adding patients
never changes the ones already there. Paths in the manifest are relative to out_dir.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from . import dicom_writer, drr, masks, pathology, phantom
from . import labels as L
from .sites import Enrolment, SiteProfile, enrol, make_sites

DEFAULT_LEVELS = ("T11", "T12", "L1", "L2")
READER2_FRACTION = 0.3
MIN_READER2 = 2

# Schema column types decide the CSV dtypes (integers stay integers, blanks stay blank).
_INT_COLUMNS = ("mask_label", "lat_x0", "lat_y0", "lat_x1", "lat_y1", "ap_x0", "ap_y0", "ap_x1", "ap_y1",
                "fracture", "genant_grade", "astlof_morphology", "astlof_mri", "astlof_bmd",
                "astlof_pain", "astlof_total", "astlof_class", "ovcf", "of", "sn", "kd", "ps", "age")


def manifest_columns() -> list[str]:
    """Column names of the manifest in the schema's order (vfrepro/data/manifest.schema.yaml)."""
    text = resources.files("vfrepro").joinpath("data/manifest.schema.yaml").read_text()
    return list(yaml.safe_load(text)["properties"].keys())


@dataclass
class PatientResult:
    """Manifest rows of one patient and the seconds spent per stage."""

    rows: list[dict]
    seconds: dict[str, float]
    site: str
    n_voxels: int


def _streams(seed: int, index: int) -> dict[str, np.random.Generator]:
    """Independent Generators per purpose for one patient, derived from (seed, index)."""
    names = ("clinical", "anatomy", "ct_noise", "reader2", "xray", "phi")
    kids = np.random.SeedSequence([int(seed), int(index)]).spawn(len(names))
    return {n: np.random.default_rng(k) for n, k in zip(names, kids)}


def patient_id(index: int) -> str:
    """Pseudonymous cohort key of patient index (0-based), e.g. 'SYN0007' for index 6."""
    return f"SYN{index + 1:04d}"


def plan_reader2(seed: int, enrolments: list[Enrolment]) -> set[int]:
    """Patient indices that get a second reader: ~30% of train patients, at least 2 overall.

    Each train patient's draw depends on (seed, index) only; small cohorts are topped up
    with the earliest train (then any) patients so that an ICC can always be computed.
    """
    chosen = set()
    for i, e in enumerate(enrolments):
        u = np.random.default_rng(np.random.SeedSequence([int(seed), 0x2EAD, i])).random()
        if e.split == "train" and u < READER2_FRACTION:
            chosen.add(i)
    want = min(MIN_READER2, len(enrolments))
    order = [i for i, e in enumerate(enrolments) if e.split == "train"] + list(range(len(enrolments)))
    for i in order:
        if len(chosen) >= want:
            break
        chosen.add(i)
    return chosen


def generate_patient(out_dir: Path, seed: int, index: int, enrolment: Enrolment,
                     sites: list[SiteProfile], levels=DEFAULT_LEVELS, with_reader2: bool = False) -> PatientResult:
    """Generate and write one patient; gives its manifest rows and per-stage timings."""
    t0 = time.perf_counter()
    sec = {}
    rs = _streams(seed, index)
    pid = patient_id(index)
    site = sites[enrolment.site_index]
    pat = pathology.draw_patient(rs["clinical"])
    verts = pathology.draw_vertebrae(rs["clinical"], pat, list(levels))
    bodies = phantom.layout(rs["anatomy"], pat, verts)
    grid = phantom.make_grid(rs["anatomy"], bodies, site)
    ph = phantom.render(rs["anatomy"], pat, bodies, grid, site, rs["ct_noise"])
    sec["render"] = time.perf_counter() - t0

    t = time.perf_counter()
    dicom_dir = out_dir / "dicom" / pid
    if dicom_dir.exists():
        shutil.rmtree(dicom_dir)           # a stale series of another size must not mix in
    ident = dicom_writer.fake_identity(rs["phi"], pat.sex, pat.age, enrolment.acquired_on)
    hh, mm, ss = int(rs["phi"].integers(7, 19)), int(rs["phi"].integers(0, 60)), int(rs["phi"].integers(0, 60))
    dicom_writer.write_series(dicom_dir, ph.hu, grid, seed=seed, patient_id=pid, identity=ident, site=site,
                              acquired_on=enrolment.acquired_on, age=pat.age, sex=pat.sex,
                              study_time=f"{hh:02d}{mm:02d}{ss:02d}")
    sec["dicom"] = time.perf_counter() - t

    t = time.perf_counter()
    rel = {
        "mask": f"masks/{pid}_reader1.nii.gz",
        "mask2": f"masks/{pid}_reader2.nii.gz",
        "lesion": f"lesions/{pid}_lesion.nii.gz",
        "lat": f"xray/{pid}_lateral.png",
        "ap": f"xray/{pid}_ap.png",
    }
    masks.write_label_map(ph.labels, grid, out_dir / rel["mask"])
    masks.write_label_map(ph.lesions, grid, out_dir / rel["lesion"])
    if with_reader2:
        masks.write_label_map(masks.reader2(ph.labels, rs["reader2"], grid), grid, out_dir / rel["mask2"])
    elif (out_dir / rel["mask2"]).exists():
        (out_dir / rel["mask2"]).unlink()
    sec["masks"] = time.perf_counter() - t

    t = time.perf_counter()
    xr = drr.render_pair(ph.hu_clean, ph.labels, grid, site, rs["xray"])
    drr.save_png(xr["lateral"].image, out_dir / rel["lat"])
    drr.save_png(xr["ap"].image, out_dir / rel["ap"])
    sec["xray"] = time.perf_counter() - t

    rows = []
    for v in verts:
        code = L.level_code(v.level)
        lb, ab = xr["lateral"].boxes.get(code), xr["ap"].boxes.get(code)
        if lb is None or ab is None:
            raise RuntimeError(f"{pid} {v.level}: vertebra not rendered inside the field of view")
        rows.append({
            "patient_id": pid, "site": site.name, "split": enrolment.split,
            "acquired_on": enrolment.acquired_on.isoformat(),
            "dicom_dir": f"dicom/{pid}", "mask_path": rel["mask"], "mask_label": code,
            "mask_reader2_path": rel["mask2"] if with_reader2 else None,
            "lesion_path": rel["lesion"], "level": v.level,
            "xray_lateral_path": rel["lat"], "xray_ap_path": rel["ap"],
            "lat_x0": lb[0], "lat_y0": lb[1], "lat_x1": lb[2], "lat_y1": lb[3],
            "ap_x0": ab[0], "ap_y0": ab[1], "ap_x1": ab[2], "ap_y1": ab[3],
            "fracture": v.fracture, "genant_grade": v.genant_grade, "ao_type": v.ao_type,
            "vcf_type": v.vcf_type,
            "astlof_morphology": v.astlof_morphology, "astlof_mri": v.astlof_mri,
            "astlof_bmd": v.astlof_bmd, "astlof_pain": v.astlof_pain,
            "astlof_total": v.astlof_total, "astlof_class": v.astlof_class,
            "ovcf": v.ovcf, "of": v.of, "sn": v.sn, "kd": v.kd, "ps": v.ps,
            "age": pat.age, "sex": pat.sex, "t_score": pat.t_score, "pain": pat.pain,
        })
    sec["total"] = time.perf_counter() - t0
    return PatientResult(rows=rows, seconds=sec, site=site.name, n_voxels=int(np.prod(grid.shape)))


def to_frame(rows: list[dict]) -> pd.DataFrame:
    """Manifest rows -> DataFrame in schema column order with nullable integer columns."""
    cols = manifest_columns()
    df = pd.DataFrame(rows)
    for c in cols:
        if c not in df:
            df[c] = None
    extra = [c for c in df.columns if c not in cols]
    df = df[cols + extra]
    for c in _INT_COLUMNS:
        if c in df:
            df[c] = pd.array(df[c].tolist(), dtype="Int64")
    return df


def write_sites(out_dir: Path, sites: list[SiteProfile]) -> None:
    """sites.csv: the true scanner parameters (for benchmarks and the harmonisation report)."""
    pd.DataFrame([s.as_dict() for s in sites]).to_csv(out_dir / "sites.csv", index=False)


def generate_cohort(out_dir, n_patients: int, seed: int, n_sites: int = 4,
                    levels=DEFAULT_LEVELS) -> pd.DataFrame:
    """Write a synthetic cohort under out_dir and return its manifest (also out_dir/manifest.csv).

    Takes the output folder, number of patients (>= 1), seed, number of sites (>= 2) and
    the levels to label (consecutive within T10..L3; a half-included neighbour is rendered
    above and below). Gives one manifest row per labelled vertebra; paths relative to out_dir.
    """
    if n_patients < 1:
        raise ValueError("n_patients must be >= 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sites = make_sites(seed, n_sites)
    enrolments = [enrol(seed, i, n_sites) for i in range(n_patients)]
    second = plan_reader2(seed, enrolments)
    rows = []
    for i, e in enumerate(enrolments):
        rows += generate_patient(out_dir, seed, i, e, sites, levels, with_reader2=i in second).rows
    df = to_frame(rows)
    df.to_csv(out_dir / "manifest.csv", index=False)
    write_sites(out_dir, sites)
    return df
