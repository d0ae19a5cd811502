"""Scanner/site profiles and the assignment of patients to sites, splits and dates.

Sites differ in voxel spacing, reconstruction sharpness, noise and a small HU
scale/offset: the batch effects that resampling and ComBat are meant to remove.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, asdict

import numpy as np

# Fake but realistic institution names written into the DICOM headers (never the manifest).
_INSTITUTIONS = (
    "St. Aldric University Hospital", "Northvale General Hospital", "Riverside Spine Centre",
    "Kingsbridge Medical Centre", "Lakeshore Regional Hospital", "Eastmoor Trauma Center",
    "Harbourview Clinic", "Westfield Orthopaedic Institute",
)
_MANUFACTURERS = (("SIEMENS", "SOMATOM Force"), ("GE MEDICAL SYSTEMS", "Revolution CT"),
                  ("Philips", "IQon Spectral CT"), ("TOSHIBA", "Aquilion ONE"),
                  ("SIEMENS", "SOMATOM Definition AS"), ("GE MEDICAL SYSTEMS", "Optima CT660"),
                  ("Philips", "Ingenuity CT"), ("CANON", "Aquilion Prime SP"))

# Study roles over a block of 20 patients (liu2025_dlr ratios: ~68% train, 17% internal,
# 10% external, 5% prospective). External and prospective are enlarged so that a demo-sized
# cohort still has enough cases to evaluate on in every split.
_ROLE_BLOCK = ("train",) * 11 + ("internal",) * 3 + ("external",) * 3 + ("prospective",) * 3


@dataclass(frozen=True)
class SiteProfile:
    """One scanner: name, role, grid, sharpness, noise, HU calibration and radiograph settings."""

    name: str
    role: str                 # "development" or "external"
    institution: str
    manufacturer: str
    model: str
    pixel_mm: float           # in-plane spacing (mm), 0.5-1.0
    slice_mm: float           # slice spacing = thickness (mm), 1-3
    blur_mm: float            # Gaussian sigma of the reconstruction kernel (mm, in-plane)
    noise_hu: float           # SD of the image noise (HU)
    noise_corr_mm: float      # correlation length of the noise (mm)
    hu_scale: float           # multiplicative calibration error
    hu_offset: float          # additive calibration error (HU)
    kvp: int
    xray_exposure: float      # photons per detector pixel (relative), sets radiograph noise
    xray_noise: float         # additional electronic noise (fraction of the signal range)
    xray_blur_px: float       # detector blur (pixels of 0.5 mm)
    xray_gamma: float         # display gamma of the log-compressed image

    def as_dict(self) -> dict:
        """The profile as a plain dict (for logs and benchmark tables)."""
        return asdict(self)


def _strata(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    """n values in [lo, hi], one per equal-width stratum in random order, so sites always differ."""
    edges = np.linspace(lo, hi, n + 1)
    vals = edges[:-1] + rng.random(n) * (edges[1:] - edges[:-1])
    return vals[rng.permutation(n)]


def n_development_sites(n_sites: int) -> int:
    """How many of n_sites are development sites (the rest are external): half, at least 1."""
    return max(1, n_sites // 2)


def make_sites(seed: int, n_sites: int = 4) -> list[SiteProfile]:
    """Site profiles drawn from seed; takes the cohort seed and the number of sites (>= 2).

    Gives a list of SiteProfile; the first n_development_sites(n_sites) are development sites.
    """
    if n_sites < 2:
        raise ValueError("n_sites must be >= 2 (development and external sites are both needed)")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x517E5]))
    pixel = np.round(_strata(rng, n_sites, 0.55, 1.0), 3)
    # Thin slices go with coarse pixels (and vice versa) so that voxel counts stay similar.
    slc = np.sort(np.round(_strata(rng, n_sites, 1.0, 3.0) * 4) / 4)[::-1][np.argsort(np.argsort(pixel))]
    blur = _strata(rng, n_sites, 0.25, 0.9)
    noise = _strata(rng, n_sites, 8.0, 30.0)
    scale = _strata(rng, n_sites, 0.95, 1.06)
    offset = _strata(rng, n_sites, -25.0, 25.0)
    exposure = _strata(rng, n_sites, 800.0, 6000.0)
    n_dev = n_development_sites(n_sites)
    sites = []
    for k in range(n_sites):
        manu, model = _MANUFACTURERS[k % len(_MANUFACTURERS)]
        sites.append(SiteProfile(
            name=f"site{k + 1}",
            role="development" if k < n_dev else "external",
            institution=_INSTITUTIONS[k % len(_INSTITUTIONS)],
            manufacturer=manu, model=model,
            pixel_mm=float(pixel[k]), slice_mm=float(slc[k]),
            blur_mm=float(blur[k]), noise_hu=float(noise[k]),
            noise_corr_mm=float(rng.uniform(0.4, 0.9)),
            hu_scale=float(scale[k]), hu_offset=float(offset[k]),
            kvp=int(rng.choice([100, 120, 120, 140])),
            xray_exposure=float(exposure[k]),
            xray_noise=float(rng.uniform(0.005, 0.02)),
            xray_blur_px=float(rng.uniform(0.5, 1.5)),
            xray_gamma=float(rng.uniform(0.8, 1.2)),
        ))
    return sites


@dataclass(frozen=True)
class Enrolment:
    """Where and when a patient was scanned: split, site index and acquisition date."""

    split: str
    site_index: int
    acquired_on: _dt.date


def _random_date(rng: np.random.Generator, start: _dt.date, end: _dt.date) -> _dt.date:
    """A uniform date in [start, end]."""
    return start + _dt.timedelta(days=int(rng.integers(0, (end - start).days + 1)))


def enrol(seed: int, patient_index: int, n_sites: int) -> Enrolment:
    """Split, site and date of one patient; depends on (seed, patient_index, n_sites) only.

    Roles come from a shuffled block of 20 (so every 20 consecutive patients carry the
    ratios); development patients go to train/internal at development sites, external ones
    to external sites, prospective ones to development site 1 late in time.
    """
    block, pos = divmod(patient_index, len(_ROLE_BLOCK))
    perm = np.random.default_rng(np.random.SeedSequence([seed, 0xB10C, block])).permutation(len(_ROLE_BLOCK))
    split = _ROLE_BLOCK[perm[pos]]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xE17, patient_index]))
    n_dev = n_development_sites(n_sites)
    if split in ("train", "internal"):
        site = int(rng.integers(0, n_dev))
        date = _random_date(rng, _dt.date(2018, 1, 1), _dt.date(2021, 12, 31))
    elif split == "external":
        site = int(rng.integers(n_dev, n_sites))
        date = _random_date(rng, _dt.date(2019, 1, 1), _dt.date(2022, 6, 30))
    else:  # prospective: a late-dated batch of the first development site
        site = 0
        date = _random_date(rng, _dt.date(2023, 3, 1), _dt.date(2023, 12, 31))
    return Enrolment(split=split, site_index=site, acquired_on=date)
