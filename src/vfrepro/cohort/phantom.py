"""Vectorised CT phantom of a thoracolumbar segment on a site's voxel grid (Hounsfield units).

Array axes are (z, y, x) = (slice, row, column) in the DICOM patient frame (LPS):
x grows to the patient's left, y to posterior, z to superior; slice 0 is the most
inferior. Vertebral bodies are rounded elliptic cylinders with a partial-volume
cortical shell around textured trabecular bone; discs, posterior elements, canal,
muscle, fat and air surround them. Pathology drawn in vfrepro.cohort.pathology is
rendered into the HU volume, the vertebra label map and the lesion label map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from . import labels as L
from .pathology import Patient, Vertebra
from .sites import SiteProfile

# Nominal body height, half-width, half-depth (mm) and disc height below (mm), by level.
_DIMS = {
    "T8": (19.0, 16.5, 13.0, 4.5), "T9": (20.0, 17.5, 13.5, 5.0), "T10": (21.0, 18.5, 14.0, 5.5),
    "T11": (22.0, 19.5, 14.5, 6.0), "T12": (23.5, 20.5, 15.0, 7.0), "L1": (25.0, 21.5, 15.5, 8.0),
    "L2": (26.5, 22.5, 16.0, 9.0), "L3": (27.5, 23.5, 16.5, 10.0), "L4": (28.0, 24.5, 17.0, 10.5),
    "L5": (27.0, 25.0, 17.0, 11.0),
}
_ORDER = ["T8", "T9", "T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5"]
_P = 2.3                 # superellipse exponent of the body outline (rounded rectangle)
CORTEX_MM = 1.0          # cortical shell thickness
CORTEX_HU = 820.0
DISC_HU = 85.0
HALF_FOV_X = 40.0        # mm either side of the midline
NEIGHBOUR_FRACTION = 0.35  # share of the unlabelled neighbour bodies inside the field of view


@dataclass
class Grid:
    """Voxel grid: shape (nz, ny, nx), spacing (x, y, z) mm and origin (x, y, z) of voxel 0's centre."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    anat_to_world: tuple[float, float, float]   # world = anatomical frame + this offset

    def axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Voxel-centre coordinates in the anatomical frame: (z, y, x) 1-D arrays, mm."""
        nz, ny, nx = self.shape
        sx, sy, sz = self.spacing
        ox, oy, oz = (o - a for o, a in zip(self.origin, self.anat_to_world))
        return (oz + sz * np.arange(nz), oy + sy * np.arange(ny), ox + sx * np.arange(nx))


@dataclass
class Body:
    """Placed vertebral body: level, centre (x, y, z) mm, height, half-axes, labelled or not."""

    level: str
    xc: float
    yc: float
    zc: float
    h: float
    a: float
    b: float
    disc_below: float
    labelled: bool
    state: Vertebra | None


@dataclass
class Phantom:
    """Rendered CT: stored HU (float32, site effects applied), clean HU, label and lesion maps."""

    hu: np.ndarray
    hu_clean: np.ndarray
    labels: np.ndarray
    lesions: np.ndarray
    grid: Grid
    bodies: list[Body]


def layout(rng: np.random.Generator, patient: Patient, verts: list[Vertebra]) -> list[Body]:
    """Place the drawn vertebrae plus one partly included neighbour above and below.

    Takes the anatomy Generator, the Patient and Vertebra list (superior to inferior);
    gives Body list superior to inferior, with centres in the anatomical frame (mm).
    """
    names = [v.level for v in verts]
    i0, i1 = _ORDER.index(names[0]), _ORDER.index(names[-1])
    if names != _ORDER[i0:i1 + 1] or i0 == 0 or i1 == len(_ORDER) - 1:
        raise ValueError(f"levels must be consecutive within T9..L4, got {names}")
    seq = _ORDER[i0 - 1:i1 + 2]
    by_level = {v.level: v for v in verts}
    s = patient.size_scale
    bodies, z = [], 0.0
    slope_x = rng.normal(0.0, 0.03)          # mild scoliosis
    kyph = rng.normal(0.0, 0.0012)           # sagittal curvature, mm / mm^2
    for k, lv in enumerate(seq):
        h, a, b, disc = _DIMS[lv]
        h, a, b = h * s * rng.uniform(0.96, 1.04), a * s * rng.uniform(0.97, 1.03), b * s * rng.uniform(0.97, 1.03)
        disc = disc * rng.uniform(0.85, 1.15)
        if k > 0:
            prev = bodies[-1]
            z = prev.zc - prev.h / 2 - prev.disc_below - h / 2
        bodies.append(Body(lv, 0.0, 0.0, z, h, a, b, disc, lv in by_level, by_level.get(lv)))
    zmid = 0.5 * (bodies[0].zc + bodies[-1].zc)
    for bd in bodies:
        bd.zc -= zmid
        bd.xc = slope_x * bd.zc + rng.normal(0.0, 0.5)
        bd.yc = kyph * bd.zc ** 2 + rng.normal(0.0, 0.5)
    return bodies


def make_grid(rng: np.random.Generator, bodies: list[Body], site: SiteProfile) -> Grid:
    """Site grid covering the labelled bodies fully and a third of each neighbour; world offset drawn."""
    px, dz = site.pixel_mm, site.slice_mm
    bmax = max(b.b for b in bodies)
    y_lo, y_hi = -bmax - 10.0, bmax + 58.0
    # A third of each neighbour is included: enough context, few voxels.
    z_lo = bodies[-1].zc + bodies[-1].h / 2 - NEIGHBOUR_FRACTION * bodies[-1].h
    z_hi = bodies[0].zc - bodies[0].h / 2 + NEIGHBOUR_FRACTION * bodies[0].h
    nx = int(round(2 * HALF_FOV_X / px))
    ny = int(round((y_hi - y_lo) / px))
    nz = int(round((z_hi - z_lo) / dz)) + 1
    # World offset: table height / patient position on the table.
    off = (float(np.round(rng.uniform(-6, 6), 2)), float(np.round(rng.uniform(-40, 30), 2)),
           float(np.round(rng.uniform(-520, -380), 2)))
    ax0 = -HALF_FOV_X + px / 2
    origin = (round(ax0 + off[0], 4), round(y_lo + px / 2 + off[1], 4), round(z_lo + off[2], 4))
    return Grid(shape=(nz, ny, nx), spacing=(px, px, dz), origin=origin, anat_to_world=off)


def _ramp(s: np.ndarray, w: float) -> np.ndarray:
    """Partial-volume occupancy of a voxel of width w whose centre is s mm inside an edge."""
    return np.clip(0.5 + s / w, 0.0, 1.0)


def _slab(zs: np.ndarray, lo: float, hi: float) -> slice:
    """Index slice of the sorted coordinate array zs within [lo, hi]."""
    return slice(int(np.searchsorted(zs, lo)), int(np.searchsorted(zs, hi, side="right")))


def _superellipse(xr: np.ndarray, yr: np.ndarray, a: float, b: float):
    """rho (1 on the outline) and approximate in-plane distance to the outline (mm, + inside)."""
    rho = (np.abs(xr / a) ** _P + np.abs(yr / b) ** _P) ** (1.0 / _P)
    r = np.hypot(xr, yr)
    d = (1.0 - rho) * r / np.maximum(rho, 1e-3)
    return rho, np.where(rho < 1e-3, min(a, b), d)


def _endplates(bd: Body, xr, yr, rho):
    """Superior and inferior endplate heights z_top, z_bot (mm) after drawn height loss."""
    st = bd.state
    conc = (st.geom.get("endplate_concavity", 0.8) if st else 0.8) * np.clip(1 - rho ** 2, 0, 1)
    top = np.zeros_like(rho)
    bot = np.zeros_like(rho)
    if st is not None and st.fracture:
        H = bd.h * st.height_loss
        central = np.clip(1 - rho ** 2, 0, 1)
        u_ant = np.clip((bd.b - yr) / (2 * bd.b), 0, 1)
        if st.shape == "wedge":
            top = H * u_ant ** 1.2
        elif st.shape == "biconcave":
            top, bot = 0.5 * H * central, 0.5 * H * central
        elif st.shape in ("crush", "split"):
            top, bot = 0.6 * H + 0 * rho, 0.4 * H + 0 * rho
        elif st.shape == "burst_sup":
            top = H * (0.7 + 0.3 * central)
        elif st.shape == "burst_both":
            top, bot = 0.55 * H * (0.75 + 0.25 * central), 0.45 * H * (0.75 + 0.25 * central)
    return bd.zc + bd.h / 2 - conc - top, bd.zc - bd.h / 2 + conc + bot, top, bot


def _texture(rng: np.random.Generator, shape, grid: Grid, patient: Patient) -> np.ndarray:
    """Band-passed (difference-of-Gaussians) noise of SD patient.texture_sd, partial-volumed by the grid."""
    sx, _, sz = grid.spacing
    noise = rng.standard_normal(shape, dtype=np.float32)
    s1, s2 = 0.5 * patient.texture_mm, 1.6 * patient.texture_mm
    t = ndimage.gaussian_filter(noise, (s1 / sz, s1 / sx, s1 / sx), truncate=3.0)
    t -= ndimage.gaussian_filter(noise, (s2 / sz, s2 / sx, s2 / sx), truncate=3.0)
    t /= float(t.std()) + 1e-6
    # Bigger voxels average the lattice away: amplitude falls with voxel size (a batch effect).
    pv = (patient.texture_mm / np.sqrt(patient.texture_mm ** 2 + (0.3 * sz) ** 2 + (0.3 * sx) ** 2)) ** 0.5
    return (t * (patient.texture_sd * pv)).astype(np.float32)


def render(rng: np.random.Generator, patient: Patient, bodies: list[Body], grid: Grid,
           site: SiteProfile, noise_rng: np.random.Generator) -> Phantom:
    """Render the phantom; takes anatomy/noise Generators, Patient, placed bodies, Grid, SiteProfile.

    Gives a Phantom whose `hu` has the site's blur, noise and HU calibration applied.
    """
    zs, ys, xs = grid.axes()
    nz, ny, nx = grid.shape
    px, dz = grid.spacing[0], grid.spacing[2]
    vol = np.full(grid.shape, 40.0, dtype=np.float32)
    lab = np.zeros(grid.shape, dtype=np.uint8)
    les = np.zeros(grid.shape, dtype=np.uint8)
    pe = np.zeros(grid.shape, dtype=bool)
    bmax = max(b.b for b in bodies)
    _background(rng, vol, zs, ys, xs, bmax, bodies)
    # Trabecular texture on a box around the bodies only (where it is seen).
    ybox = _slab(ys, -bmax - 4, bmax + 12)
    xbox = _slab(xs, -30, 30)
    tex = np.zeros(grid.shape, dtype=np.float32)
    tex[:, ybox, xbox] = _texture(rng, (nz, ybox.stop - ybox.start, xbox.stop - xbox.start), grid, patient)
    for bd in bodies:
        _envelope(vol, zs, ys, xs, bd)
    for bd in bodies:
        _posterior(vol, pe, les, tex, zs, ys, xs, bd)
    for bd in bodies:
        _body(vol, lab, les, tex, zs, ys, xs, bd, px, dz)
    clean = vol.copy()
    hu = _site_effects(vol, grid, site, noise_rng)
    return Phantom(hu=hu, hu_clean=clean, labels=lab, lesions=les, grid=grid, bodies=bodies)


def _background(rng, vol, zs, ys, xs, bmax, bodies) -> None:
    """Muscle with smooth variation, anterior retroperitoneal fat and aorta, canal, fat, skin, air."""
    # Smooth inhomogeneity: a coarse in-plane field upsampled in 2-D plus a slow drift along z (cheap).
    nz, ny, nx = vol.shape
    plane_field = ndimage.zoom(rng.normal(0.0, 6.0, size=(6, 6)).astype(np.float32), (ny / 6, nx / 6),
                               order=1, grid_mode=True, mode="nearest")[:ny, :nx]
    drift = np.interp(np.arange(nz), np.linspace(0, nz - 1, 4), rng.normal(0.0, 3.0, size=4))
    vol += plane_field[None] + drift.astype(np.float32)[:, None, None]
    Y, X = np.meshgrid(ys, xs, indexing="ij")
    skin = bmax + float(rng.uniform(50.0, 55.0))
    fat = float(rng.uniform(5.0, 9.0))
    plane = np.full((len(ys), len(xs)), np.nan, dtype=np.float32)   # NaN: keep muscle
    plane[Y <= -bmax - 5] = -95.0                                     # retroperitoneal fat
    plane[(X - 9.0) ** 2 + (Y + bmax + 12.0) ** 2 < 10.5 ** 2] = 42.0  # aorta
    plane[(Y >= skin - fat) & (Y < skin)] = -105.0                    # subcutaneous fat
    plane[Y >= skin] = -1000.0                                        # air behind the back
    keep = np.isnan(plane)
    vol[:, ~keep] = plane[~keep]


def _envelope(vol, zs, ys, xs, bd: Body) -> None:
    """Disc tissue between the vertebra's nominal endplates and half of each adjacent disc.

    Bodies drawn later replace it, so a collapsed endplate leaves disc/haematoma density.
    """
    zsl = _slab(zs, bd.zc - bd.h / 2 - bd.disc_below * 0.55, bd.zc + bd.h / 2 + 3.5)
    ysl, xsl = _slab(ys, bd.yc - bd.b - 1, bd.yc + bd.b + 1), _slab(xs, bd.xc - bd.a - 1, bd.xc + bd.a + 1)
    xr, yr = xs[xsl][None, :] - bd.xc, ys[ysl][:, None] - bd.yc
    rho, _ = _superellipse(xr, yr, bd.a * 0.98, bd.b * 0.98)
    inside = rho < 1.0
    sub = vol[zsl, ysl, xsl]
    sub[:, inside] = np.where(rho[inside] > 0.7, DISC_HU + 15.0, DISC_HU - 10.0)


def _posterior(vol, pe, les, tex, zs, ys, xs, bd: Body) -> None:
    """Canal, pedicles, lamina, spinous and transverse processes; A0 process fracture line."""
    lumbar = bd.level.startswith("L")
    ca, cb = (10.0, 8.0) if lumbar else (8.0, 7.5)
    ycan = bd.yc + bd.b + cb + 1.0
    zsl = _slab(zs, bd.zc - 0.5 * bd.h - 16, bd.zc + 0.5 * bd.h + 1)   # thoracic spinous tips point down
    Z = zs[zsl][:, None, None] - bd.zc
    Y = ys[None, :, None]
    X = xs[None, None, :] - bd.xc
    yrc = Y - ycan
    hz = bd.h
    # Canal from this body's top to the middle of the disc below; neighbours cover the rest.
    canal = ((X / ca) ** 2 + (yrc / cb) ** 2 < 1.0) & (Z > -0.5 * hz - bd.disc_below - 0.5) & (Z < 0.5 * hz + 0.5)
    ped = (np.abs(X) > ca - 0.5) & (np.abs(X) < ca + 5.5) & (Y > bd.yc + bd.b - 2) & (yrc < 0) \
        & (Z > -0.05 * hz) & (Z < 0.42 * hz)
    lam = ((X / (ca + 4.5)) ** 2 + (yrc / (cb + 4.5)) ** 2 < 1.0) & ~canal & (yrc >= -1.0) \
        & (Z > -0.32 * hz) & (Z < 0.36 * hz)
    sp_len = 21.0 if lumbar else 22.0
    y_sp0 = ycan + cb + 1.5
    slope = 0.35 if lumbar else 0.8
    zsp = -0.1 * hz - slope * (Y - y_sp0)
    sp = (np.abs(X) < 2.8) & (Y > y_sp0 - 2) & (Y < y_sp0 + sp_len) & (np.abs(Z - zsp) < (0.2 if lumbar else 0.13) * hz)
    tp_len = 38.0 if lumbar else 30.0
    tp = (np.abs(X) > ca + 3.0) & (np.abs(X) < tp_len) & (np.abs(yrc + 0.5) < 3.0) \
        & (Z > 0.05 * hz) & (Z < 0.3 * hz)
    sub = vol[zsl]
    sub[np.broadcast_to(canal, sub.shape)] = 18.0
    bone = ped | lam | sp | tp
    bone = np.broadcast_to(bone, sub.shape)
    sub[bone] = 430.0 + 0.6 * tex[zsl][bone]
    pe[zsl] |= bone
    st = bd.state
    if st is not None and st.ao_type == "A0":
        # Transverse gap through the spinous process: seen on axial slices, not coronal ones.
        yplane = y_sp0 + st.geom["a0_position"] * sp_len
        gap = np.broadcast_to(sp & (np.abs(Y - yplane - 0.15 * (Z - zsp)) < 0.8), sub.shape)
        sub[gap] = 45.0
        les[zsl][gap] = L.LESION_CODES["fracture_line"]


def _body(vol, lab, les, tex, zs, ys, xs, bd: Body, px: float, dz: float) -> None:
    """Vertebral body with cortex, texture, height loss and every drawn lesion; writes labels."""
    st = bd.state
    zsl = _slab(zs, bd.zc - bd.h / 2 - 2, bd.zc + bd.h / 2 + 2)
    ysl = _slab(ys, bd.yc - bd.b - 2, bd.yc + bd.b + 8)
    xsl = _slab(xs, bd.xc - bd.a - 2, bd.xc + bd.a + 2)
    z = zs[zsl][:, None, None]
    xr = (xs[xsl] - bd.xc)[None, :]
    yr = (ys[ysl] - bd.yc)[:, None]
    rho, dxy = _superellipse(xr, yr, bd.a, bd.b)
    z_top, z_bot, top_loss, bot_loss = _endplates(bd, xr, yr, rho)
    dzed = np.minimum(z - z_bot, z_top - z)
    occ = _ramp(dxy, px) * _ramp(dzed, dz)
    inner = _ramp(dxy - CORTEX_MM, px) * _ramp(dzed - CORTEX_MM, dz)
    lesion = np.zeros(occ.shape, dtype=np.uint8)
    trab_hu = st.trab_hu if st is not None else 150.0
    frag = None
    if st is not None and st.shape in ("burst_sup", "burst_both"):
        occ, inner, frag, gap = _burst(st, bd, z, xr, yr, occ, inner, px, dz)
    sub = vol[zsl, ysl, xsl]
    t = tex[zsl, ysl, xsl]
    trab = trab_hu + t
    if st is not None and st.vcf_type == "chronic":
        trab = trab + 30.0       # healed fractures are diffusely denser
    val = CORTEX_HU * (occ - inner) + trab * inner
    sub *= (1.0 - occ)
    sub += val
    body = occ >= 0.5
    if st is not None and st.fracture:
        _fracture_signs(st, bd, sub, lesion, body, z, xr, yr, z_top, z_bot, top_loss, bot_loss, t)
        if frag is not None:
            fr, gp = frag & body, gap & body
            sub[gp] = 60.0
            lesion[gp] = L.LESION_CODES["fracture_line"]
            lesion[fr & (lesion == 0)] = L.LESION_CODES["burst_fragment"]
    if st is not None and st.sn:
        _schmorl(st, bd, sub, lesion, body, z, xr, yr, z_top, z_bot)
    if st is not None and st.kd:
        _ellipsoid_lesion(sub, lesion, body & (inner > 0.5), z, xr, yr, bd, z_top, z_bot,
                          st.geom["cleft_center"], st.geom["cleft_axes"], -900.0, "cleft")
    if st is not None and st.ps:
        for cx, cy, cz, r in st.geom["cement_blobs"]:
            wob = 1.0 + 0.25 * np.tanh(t / 40.0)       # irregular interdigitation with trabeculae
            _ellipsoid_lesion(sub, lesion, body & (inner > 0.3), z, xr, yr, bd, z_top, z_bot,
                              (cx, cy, cz), (r, r * 1.1, r * 0.9), 2300.0, "cement", wobble=wob)
    if bd.labelled:
        lab[zsl, ysl, xsl][body] = L.level_code(bd.level)
    lsub = les[zsl, ysl, xsl]
    lsub[lesion > 0] = lesion[lesion > 0]


def _burst(st, bd, z, xr, yr, occ, inner, px, dz):
    """Retropulsed posterior-wall fragment: cut the posterior block and shift it into the canal.

    Gives new occupancy, inner, the fragment mask and the gap (fracture plane) mask.
    """
    s = st.geom["fragment_shift_mm"]
    fw = st.geom["fragment_width"] * bd.a
    z_lo = bd.zc + (0.0 if st.shape == "burst_sup" else -0.5) * bd.h
    zone = (np.abs(xr) < fw) & (z > z_lo)
    cut = 0.45 * bd.b
    orig = zone & (yr > cut)
    rho_s, d_s = _superellipse(xr, yr - s, bd.a, bd.b)
    z_top_s, z_bot_s, _, _ = _endplates(bd, xr, yr - s, rho_s)
    dz_s = np.minimum(z - z_bot_s, z_top_s - z)
    occ_s = _ramp(d_s, px) * _ramp(dz_s, dz)
    inn_s = _ramp(d_s - CORTEX_MM, px) * _ramp(dz_s - CORTEX_MM, dz)
    moved = zone & (yr - s > cut + 0.8)
    gap = zone & (yr > cut) & (yr - s <= cut + 0.8) & (occ > 0.5)
    occ = np.where(orig & ~gap, 0.0, occ)
    occ = np.where(moved, np.maximum(occ, occ_s), occ)
    occ = np.where(gap, np.maximum(occ, 0.999), occ)
    inner = np.where(orig, 0.0, inner)
    inner = np.where(moved, np.maximum(inner, inn_s), inner)
    return occ, inner, moved & (occ_s > 0.5), gap


def _fracture_signs(st, bd, sub, lesion, body, z, xr, yr, z_top, z_bot, top_loss, bot_loss, t) -> None:
    """Acute: lucent lines + impaction band; chronic: sclerotic corticated endplate; A2 split; lytic."""
    codes = L.LESION_CODES
    below_top = z_top - z
    above_bot = z - z_bot
    top_hit = (top_loss.max() > 0) if np.ndim(top_loss) else top_loss > 0
    bot_hit = (bot_loss.max() > 0) if np.ndim(bot_loss) else bot_loss > 0
    if st.vcf_type == "acute":
        band = np.zeros(sub.shape, dtype=bool)
        if top_hit:
            band |= (below_top > CORTEX_MM) & (below_top < CORTEX_MM + 4.5)
        if bot_hit:
            band |= (above_bot > CORTEX_MM) & (above_bot < CORTEX_MM + 4.5)
        band &= body
        sub[band] += 150.0
        lesion[band] = codes["impaction_band"]
        for ln in st.geom["lines"]:
            nx_, ny_, nz_ = ln["normal"]
            z0 = bd.zc + ln["offset"] * bd.h
            jag = 0.7 * np.sin(2 * np.pi * (xr + yr) / ln["wavelength"] + ln["phase"])
            dist = nx_ * xr + ny_ * yr + nz_ * (z - z0) + jag
            line = (np.abs(dist) < 0.6) & body
            sub[line] = 55.0 + 0.3 * t[line]
            lesion[line] = codes["fracture_line"]
    elif st.vcf_type == "chronic":
        scl = np.zeros(sub.shape, dtype=bool)
        if top_hit:
            scl |= below_top < 2.5
        if bot_hit:
            scl |= above_bot < 2.5
        scl &= body
        sub[scl] = np.maximum(sub[scl], 640.0)
        lesion[scl] = codes["sclerotic_margin"]
    if st.shape == "split":
        y_split = (st.geom["split_y"] + st.geom["split_tilt"] * (z - bd.zc) / bd.h) * bd.b
        gap = (np.abs(yr - y_split) < 0.9) & body
        sub[gap] = 60.0
        lesion[gap] = codes["fracture_line"]
    if st.vcf_type == "pathologic":
        cx, cy, cz = st.geom["lytic_center"]
        r = st.geom["lytic_radius"] * bd.b
        d2 = ((xr - cx * bd.a) ** 2 + (yr - cy * bd.b) ** 2) + ((z - (bd.zc + cz * bd.h / 2)) / 1.2) ** 2
        # Reaches through the cortex (breach) but stays within the body outline + 1.5 mm.
        lyt = (d2 < r * r) & (np.broadcast_to(_superellipse(xr, yr, bd.a + 1.5, bd.b + 1.5)[0] < 1.0, sub.shape)) \
            & (z > z_bot) & (z < z_top)
        sub[lyt] = 32.0 + 0.25 * t[lyt]
        lesion[lyt] = codes["lytic"]
        body |= lyt


def _schmorl(st, bd, sub, lesion, body, z, xr, yr, z_top, z_bot) -> None:
    """Central endplate indentation filled with disc material and a sclerotic rim."""
    cx, cy = st.geom["sn_center"]
    R = st.geom["sn_radius_mm"]
    ze = z_top if st.geom["sn_top"] else z_bot
    d = np.sqrt((xr - cx * bd.a) ** 2 + (yr - cy * bd.b) ** 2 + (z - ze) ** 2)
    core = (d < R - 1.0) & body
    rim = (d >= R - 1.0) & (d < R + 0.8) & body
    sub[rim] = 560.0
    sub[core] = DISC_HU
    lesion[core | rim] = L.LESION_CODES["schmorl_node"]


def _ellipsoid_lesion(sub, lesion, where, z, xr, yr, bd, z_top, z_bot, center, axes, hu, name,
                      wobble=1.0) -> None:
    """Fill an ellipsoid (centre/axes as fractions of a, b and the local body height) with hu."""
    cx, cy, cz = center
    ax, ay, az = axes
    zc = 0.5 * (z_top + z_bot) + cz * (z_top - z_bot)
    hz = np.maximum(az * (z_top - z_bot), 1.5)
    q = ((xr - cx * bd.a) / (ax * bd.a)) ** 2 + ((yr - cy * bd.b) / (ay * bd.b)) ** 2 + ((z - zc) / hz) ** 2
    m = (q < wobble) & where
    sub[m] = hu
    lesion[m] = L.LESION_CODES[name]


def _site_effects(vol: np.ndarray, grid: Grid, site: SiteProfile, rng: np.random.Generator) -> np.ndarray:
    """Reconstruction blur, correlated noise and HU calibration of the site; gives float32 HU."""
    px, dz = grid.spacing[0], grid.spacing[2]
    out = ndimage.gaussian_filter(vol, (0.25, site.blur_mm / px, site.blur_mm / px), truncate=3.0)
    noise = rng.standard_normal(vol.shape, dtype=np.float32)
    sig = site.noise_corr_mm / px
    noise = ndimage.gaussian_filter(noise, (0.0, sig, sig), truncate=3.0)
    noise *= site.noise_hu / (float(noise.std()) + 1e-6)
    out += noise
    out *= site.hu_scale
    out += site.hu_offset
    return out
