"""Label vocabularies shared by the synthetic generator and the study branches.

Level codes follow VerSe (C1=1 ... C7=7, T1=8 ... T12=19, L1=20 ... L5=24, L6=25),
so a mask label and a manifest level name convert both ways without a table per cohort.
"""

from __future__ import annotations

# VerSe convention: cervical 1-7, thoracic 8-19, lumbar 20-25 (L6 = 25 exists in VerSe).
LEVEL_CODES: dict[str, int] = {
    **{f"C{i}": i for i in range(1, 8)},
    **{f"T{i}": 7 + i for i in range(1, 13)},
    **{f"L{i}": 19 + i for i in range(1, 7)},
    "S1": 26,
}
CODE_LEVELS: dict[int, str] = {v: k for k, v in LEVEL_CODES.items()}

# Codes of the lesion label map (0 = no lesion). Later-drawn lesions overwrite earlier ones.
LESION_CODES: dict[str, int] = {
    "fracture_line": 1,      # lucent fracture plane through cortex / trabeculae (acute, A0 process)
    "burst_fragment": 2,     # retropulsed posterior-wall fragment (A3/A4)
    "schmorl_node": 3,       # disc herniation into the endplate with sclerotic rim
    "cleft": 4,              # intravertebral gas cleft (Kummell's disease)
    "cement": 5,             # vertebroplasty / kyphoplasty cement (previous surgery)
    "lytic": 6,              # lytic metastasis (pathologic fracture)
    "impaction_band": 7,     # condensed trabeculae under a freshly fractured endplate (acute)
    "sclerotic_margin": 8,   # corticated, sclerotic endplate of a healed (chronic) fracture
}
LESION_NAMES: dict[int, str] = {v: k for k, v in LESION_CODES.items()}

AO_TYPES = ("A0", "A1", "A2", "A3", "A4", "AZ")
# AO types that are vertebral body fractures; A0 (process only) and AZ are not.
AO_BODY_FRACTURES = ("A1", "A2", "A3", "A4")
VCF_TYPES = ("none", "acute", "chronic", "pathologic")
WANG_DISEASES = ("ovcf", "of", "sn", "kd", "ps")
PAIN_LEVELS = ("none", "positional", "persistent")
GENANT_GRADES = (0, 1, 2, 3)

# ASTLOF morphology: normal 0, compression 1, burst 2 (liu2025_dlr).
ASTLOF_MORPHOLOGY_BY_AO = {"AZ": 0, "A0": 0, "A1": 1, "A2": 1, "A3": 2, "A4": 2}
ASTLOF_PAIN = {"none": 0, "positional": 1, "persistent": 2}


def level_code(level: str) -> int:
    """Level name (e.g. 'L1') -> VerSe label code (20)."""
    return LEVEL_CODES[level]


def level_name(code: int) -> str:
    """VerSe label code (e.g. 20) -> level name ('L1')."""
    return CODE_LEVELS[int(code)]


def astlof_bmd_score(t_score: float) -> int:
    """T-score -> ASTLOF BMD component: > -2.5 -> 0, -2.5..-3.5 -> 1, <= -3.5 -> 2."""
    if t_score > -2.5:
        return 0
    if t_score > -3.5:
        return 1
    return 2


def astlof_class(total: int) -> int:
    """ASTLOF total (0-8) -> class: <= 3 -> 0, 4 -> 1, >= 5 -> 2."""
    if total <= 3:
        return 0
    if total == 4:
        return 1
    return 2


def genant_grade(height_loss: float) -> int:
    """Fractional height loss (0-1) -> Genant grade: <0.20 -> 0, <0.25 -> 1, <0.40 -> 2, else 3."""
    if height_loss < 0.20:
        return 0
    if height_loss < 0.25:
        return 1
    if height_loss < 0.40:
        return 2
    return 3
