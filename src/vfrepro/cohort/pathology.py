"""Per-patient clinical variables and per-vertebra latent state with every paper's labels.

One latent state per vertebra (etiology, AO morphology, height loss, age of the
fracture, co-occurring diseases) is drawn first; each paper's label system is then
read off that state, so the labels agree with each other and with the rendered image.
Clinical variables of ASTLOF (MRI signal, pain) are correlated with, not determined
by, what the CT shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import labels as L

# Share of vertebrae by level that carry a patient's index fracture (thoracolumbar junction).
_INDEX_LEVEL_WEIGHT = {"T10": 0.6, "T11": 1.2, "T12": 2.0, "L1": 2.2, "L2": 1.2, "L3": 0.8}

# AO body-fracture type given etiology (osteoporotic fractures are mostly wedges).
_AO_GIVEN_ETIOLOGY = {
    "osteoporotic": (("A1", "A2", "A3", "A4"), (0.72, 0.09, 0.13, 0.06)),
    "traumatic": (("A1", "A2", "A3", "A4"), (0.36, 0.16, 0.28, 0.20)),
    "pathologic": (("A1", "A3", "A4"), (0.62, 0.28, 0.10)),
}


@dataclass
class Patient:
    """Patient-level clinical variables: age (y), sex (M/F), T-score, pain, trabecular HU."""

    age: int
    sex: str
    t_score: float
    pain: str
    trab_hu: float          # mean trabecular HU of a healthy vertebra of this patient (true scale)
    texture_sd: float       # SD of the trabecular texture (HU); coarser, stronger when osteoporotic
    texture_mm: float       # characteristic size of trabecular texture (mm)
    size_scale: float       # body size factor for vertebral dimensions


@dataclass
class Vertebra:
    """Latent state and labels of one vertebra (see module docstring)."""

    level: str
    fracture: int = 0
    etiology: str = "none"            # none / osteoporotic / traumatic / pathologic
    ao_type: str = "AZ"
    shape: str = "none"               # none / wedge / biconcave / crush / split / burst_sup / burst_both
    height_loss: float = 0.0          # fraction of nominal height lost at the worst point
    genant_grade: int = 0
    vcf_type: str = "none"
    ovcf: int = 0
    of: int = 0
    sn: int = 0
    kd: int = 0
    ps: int = 0
    astlof_morphology: int = 0
    astlof_mri: int = 0
    astlof_bmd: int = 0
    astlof_pain: int = 0
    astlof_total: int = 0
    astlof_class: int = 0
    trab_hu: float = 150.0
    # Rendering parameters of the lesions (unit-free positions drawn once, so images follow labels).
    geom: dict = field(default_factory=dict)


def draw_patient(rng: np.random.Generator) -> Patient:
    """Draw a patient's clinical variables; takes a Generator, gives a Patient."""
    sex = "F" if rng.random() < 0.66 else "M"
    age = int(np.clip(np.round(rng.normal(69.0, 10.0)), 42, 95))
    # Older women have lower BMD; scatter keeps the BMD score only partly predictable. The
    # centre is that of a fragility-fracture cohort (mostly osteopenic to osteoporotic), which
    # puts ASTLOF totals of fractured vertebrae around 3-5 as in liu2025_dlr.
    t = rng.normal(-2.3 - 0.035 * (age - 69) - (0.35 if sex == "F" else 0.0), 0.95)
    t = float(np.round(np.clip(t, -5.5, 2.5), 1))
    # Trabecular HU tied to T-score (QCT-like relation) with individual scatter.
    trab = float(np.clip(210.0 + 36.0 * t + rng.normal(0, 12.0), 45.0, 270.0))
    tex_sd = float(np.clip(38.0 + 5.0 * (-t) + rng.normal(0, 4.0), 25.0, 70.0))
    tex_mm = float(np.clip(0.75 + 0.06 * (-t) + rng.normal(0, 0.05), 0.55, 1.2))
    return Patient(age=age, sex=sex, t_score=t, pain="none", trab_hu=trab,
                   texture_sd=tex_sd, texture_mm=tex_mm,
                   size_scale=float(rng.uniform(0.92, 1.08) * (1.04 if sex == "M" else 0.97)))


def _choice(rng: np.random.Generator, items, p) -> str:
    """One item of items with probabilities p."""
    p = np.asarray(p, float)
    return items[int(rng.choice(len(items), p=p / p.sum()))]


def _draw_body_fracture(rng: np.random.Generator, v: Vertebra, etiology: str, patient: Patient) -> None:
    """Fill v with a vertebral body fracture of the given etiology (AO type, shape, age, loss)."""
    v.fracture, v.etiology = 1, etiology
    types, p = _AO_GIVEN_ETIOLOGY[etiology]
    v.ao_type = _choice(rng, types, p)
    if etiology == "pathologic":
        v.vcf_type = "pathologic"
    else:
        p_acute = 0.88 if etiology == "traumatic" else 0.54
        v.vcf_type = "acute" if rng.random() < p_acute else "chronic"
    chronic = v.vcf_type == "chronic"
    if v.ao_type == "A1":
        v.shape = _choice(rng, ("wedge", "biconcave", "crush"), (0.55, 0.25, 0.20))
        loss = rng.uniform(0.20, 0.50) + (0.08 if chronic else 0.0)
    elif v.ao_type == "A2":
        v.shape = "split"
        loss = rng.uniform(0.04, 0.24)
    elif v.ao_type == "A3":
        v.shape = "burst_sup"
        loss = rng.uniform(0.20, 0.45)
    else:
        v.shape = "burst_both"
        loss = rng.uniform(0.28, 0.58)
    v.height_loss = float(min(loss, 0.65))
    # Kummell's disease: delayed collapse with a gas cleft, in osteoporotic fractures.
    if etiology == "osteoporotic" and rng.random() < (0.16 if chronic else 0.07):
        v.kd = 1
    # Previous surgery: cement in a treated, non-pathologic fracture.
    if etiology != "pathologic" and rng.random() < (0.16 if chronic else 0.04):
        v.ps = 1


def draw_vertebrae(rng: np.random.Generator, patient: Patient, levels: list[str]) -> list[Vertebra]:
    """Draw every listed level's latent state and labels; the patient's pain is set here too.

    Takes a Generator, the Patient and level names (superior to inferior); gives Vertebra list.
    """
    verts = [Vertebra(level=lv) for lv in levels]
    osteo = -patient.t_score
    # Index fracture: most patients in a fracture cohort have one.
    if rng.random() < 0.9:
        w = np.array([_INDEX_LEVEL_WEIGHT.get(lv, 0.5) for lv in levels])
        idx = int(rng.choice(len(levels), p=w / w.sum()))
        r = rng.random()
        if r < 0.09:
            etiology = "pathologic"
        elif r < 0.09 + (0.55 if patient.t_score > -1.5 else 0.14):
            etiology = "traumatic"
        else:
            etiology = "osteoporotic"
        _draw_body_fracture(rng, verts[idx], etiology, patient)
    # Further (osteoporotic) fractures, more likely with low BMD.
    p_more = float(np.clip(0.06 + 0.05 * osteo, 0.03, 0.32))
    for v in verts:
        if not v.fracture and rng.random() < p_more:
            _draw_body_fracture(rng, v, "osteoporotic", patient)
    traumatic = any(v.etiology == "traumatic" for v in verts)
    for v in verts:
        # A0: spinous process fracture without a body fracture (mostly with trauma).
        if not v.fracture and rng.random() < (0.16 if traumatic else 0.04):
            v.ao_type = "A0"
        # Schmorl's node occurs in any vertebra.
        if rng.random() < 0.10:
            v.sn = 1
        v.genant_grade = L.genant_grade(v.height_loss) if v.fracture else 0
        v.ovcf = int(v.fracture and v.etiology != "pathologic" and v.vcf_type == "acute")
        v.of = int(v.fracture and v.vcf_type == "chronic")
        # Vertebral trabecular HU: patient level plus small per-level scatter.
        v.trab_hu = float(patient.trab_hu + rng.normal(0.0, 7.0))
        _draw_geometry(rng, v)
    patient.pain = _draw_pain(rng, verts)
    for v in verts:
        _score_astlof(rng, v, patient)
    return verts


def _draw_pain(rng: np.random.Generator, verts: list[Vertebra]) -> str:
    """Patient pain: acute and burst fractures make positional or persistent pain likelier."""
    acute = any(v.fracture and v.vcf_type in ("acute", "pathologic") for v in verts)
    burst = any(v.ao_type in ("A3", "A4") for v in verts)
    if acute:
        p = (0.32, 0.60, 0.08) if not burst else (0.26, 0.62, 0.12)
    elif any(v.fracture for v in verts):
        p = (0.50, 0.45, 0.05)
    else:
        p = (0.70, 0.27, 0.03)
    return _choice(rng, L.PAIN_LEVELS, p)


def _score_astlof(rng: np.random.Generator, v: Vertebra, patient: Patient) -> None:
    """ASTLOF components and class of every vertebra (an intact one scores morphology 0).

    The score is defined for fractures (liu2025_dlr uses fractured vertebrae only), but it
    is filled for all rows so the manifest has no blanks a study would trip on.
    """
    v.astlof_morphology = L.ASTLOF_MORPHOLOGY_BY_AO[v.ao_type]
    # MRI: oedema (1) in fresh fractures, vacuum/fluid (2) with a cleft; only correlated with CT.
    if not v.fracture:
        p = (0.93, 0.06, 0.01)       # bone bruise or degenerative signal in intact vertebrae
    elif v.kd:
        p = (0.10, 0.35, 0.55)
    elif v.ps:
        p = (0.80, 0.18, 0.02)
    elif v.vcf_type == "acute":
        p = (0.20, 0.76, 0.04)
    elif v.vcf_type == "pathologic":
        p = (0.15, 0.80, 0.05)
    else:
        p = (0.70, 0.28, 0.02)
    v.astlof_mri = int(rng.choice(3, p=p))
    v.astlof_bmd = L.astlof_bmd_score(patient.t_score)
    v.astlof_pain = L.ASTLOF_PAIN[patient.pain]
    v.astlof_total = v.astlof_morphology + v.astlof_mri + v.astlof_bmd + v.astlof_pain
    v.astlof_class = L.astlof_class(v.astlof_total)


def _draw_geometry(rng: np.random.Generator, v: Vertebra) -> None:
    """Unit-free positions of the vertebra's lesions (fractions of the body's semi-axes)."""
    g = v.geom
    g["endplate_concavity"] = float(rng.uniform(0.4, 1.2))   # mm, normal central dip
    if v.fracture:
        # Acute: 1-3 jagged fracture planes near the collapsed endplate.
        n_lines = int(rng.integers(1, 4))
        g["lines"] = [dict(normal=_unit(rng, z_weight=float(rng.uniform(0.2, 1.0))),
                           offset=float(rng.uniform(-0.35, 0.35)),
                           phase=float(rng.uniform(0, 2 * np.pi)),
                           wavelength=float(rng.uniform(5.0, 10.0))) for _ in range(n_lines)]
        g["split_y"] = float(rng.uniform(-0.25, 0.25))           # A2 coronal split position (yr/b)
        g["split_tilt"] = float(rng.uniform(-0.15, 0.15))
        g["fragment_shift_mm"] = float(rng.uniform(2.0, 5.5))    # A3/A4 retropulsion
        g["fragment_width"] = float(rng.uniform(0.35, 0.6))       # of semi-width a
        g["lytic_center"] = (float(rng.uniform(-0.35, 0.35)), float(rng.uniform(0.1, 0.55)),
                             float(rng.uniform(-0.2, 0.3)))
        g["lytic_radius"] = float(rng.uniform(0.38, 0.6))         # of semi-axis b
        g["cleft_center"] = (float(rng.uniform(-0.25, 0.25)), float(rng.uniform(-0.55, -0.2)),
                             float(rng.uniform(0.05, 0.3)))
        g["cleft_axes"] = (float(rng.uniform(0.35, 0.6)), float(rng.uniform(0.18, 0.3)),
                           float(rng.uniform(0.12, 0.2)))
        g["cement_blobs"] = [(float(s * rng.uniform(0.2, 0.4)), float(rng.uniform(-0.3, 0.2)),
                              float(rng.uniform(-0.15, 0.15)), float(rng.uniform(0.25, 0.4)))
                             for s in (-1, 1)]
    if v.sn:
        g["sn_top"] = bool(rng.random() < 0.6)
        g["sn_center"] = (float(rng.uniform(-0.3, 0.3)), float(rng.uniform(-0.3, 0.3)))
        g["sn_radius_mm"] = float(rng.uniform(3.0, 5.5))
    if v.ao_type == "A0":
        g["a0_position"] = float(rng.uniform(0.3, 0.7))           # along the spinous process


def _unit(rng: np.random.Generator, z_weight: float) -> tuple[float, float, float]:
    """A random unit vector (x, y, z) whose z part is scaled by z_weight before normalising."""
    v = rng.normal(size=3)
    v[2] *= z_weight
    v /= np.linalg.norm(v) + 1e-9
    return float(v[0]), float(v[1]), float(v[2])
