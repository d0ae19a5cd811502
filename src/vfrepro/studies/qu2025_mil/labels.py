"""Label maps of qu2025_mil (Qu et al. 2025): bag labels per view, Z super-classes, the ensemble.

Class indices follow the paper's own numbering, 0..5 = A0, A1, A2, A3, A4, AZ (the paper reports
per-class accuracy as "category 0 ... category 5"). Both views keep all six bag classes (the paper:
"the subcategories remained the original six label categories"); in Z, A0 never occurs as a target.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["AO_CLASSES", "AZ", "A0", "VIEWS", "SUPER_CLASSES", "SUPER_OF", "CHOSEN",
           "class_index", "class_name", "bag_label", "super_class", "super_index",
           "case_label", "ensemble", "ensemble_indices"]

AO_CLASSES: tuple[str, ...] = ("A0", "A1", "A2", "A3", "A4", "AZ")
A0, AZ = "A0", "AZ"
VIEWS = ("S", "Z")          # S = axial, Z = coronal (the paper's s-type / z-type)

# Z super-classes (the paper: labels 1, 2 -> one major category; 3, 4 -> another). AZ, and the
# Z-type A0 bags that are AZ, form a third super-class of their own (our reading).
SUPER_CLASSES: tuple[str, ...] = ("A1A2", "A3A4", "AZ")
SUPER_OF: dict[str, str] = {"A1": "A1A2", "A2": "A1A2", "A3": "A3A4", "A4": "A3A4", "AZ": "AZ",
                            "A0": "AZ"}

# (setting, value, reason): readings of the paper that this module takes; outputs list them.
CHOSEN: list[tuple[str, str, str]] = [
    ("class_indices", "0..5 = A0, A1, A2, A3, A4, AZ",
     "the paper numbers its six categories so (per-class accuracy of 'category 0..5')"),
    ("z_bag_classes", "6 (A0 index never a Z target)",
     "the paper keeps the six subcategories in Z; A0 Z bags are relabelled AZ"),
    ("super_class_of_AZ", "AZ is its own third super-class (A1A2, A3A4, AZ)",
     "the paper names only {1,2} and {3,4}; a non-fracture bag belongs to neither, and a "
     "super-class head needs a target for every Z bag"),
    ("super_class_of_Z_A0", "AZ",
     "Z-type A0 bags are labelled AZ by the paper, so their super-class is AZ's"),
    ("bag_label_without_instance_labels", "the case's AO type (Z: A0 -> AZ)",
     "without a lesion map or slice column we cannot tell whether the view shows the fracture"),
    ("ensemble_z_predicts_A0", "treated as AZ: S decides",
     "Z never sees A0 as a target, so a Z 'A0' carries no information the rule could use"),
]


def class_index(name: str) -> int:
    """AO class name ('A0'..'A4', 'AZ') -> the paper's index 0..5; ValueError names the value."""
    try:
        return AO_CLASSES.index(str(name))
    except ValueError:
        raise ValueError(f"unknown AO type {name!r}; expected one of {AO_CLASSES}") from None


def class_name(index: int) -> str:
    """Paper index 0..5 -> AO class name."""
    return AO_CLASSES[int(index)]


def bag_label(view: str, ao_type: str, instance_labels: Sequence[int] | None = None) -> str:
    """Bag label of one view of a vertebra, as the paper maps it.

    A view none of whose slices shows the fracture (all instance labels 0) is AZ for that view;
    in Z, A0 is AZ (A0 is not visible coronally). Unknown instance labels (None, or all -1) leave
    the case's AO type (Z: A0 -> AZ). An AZ vertebra is AZ whatever its slices say.
    """
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    class_index(ao_type)
    if ao_type == AZ or (view == "Z" and ao_type == A0):
        return AZ
    if instance_labels is not None:
        inst = np.asarray(instance_labels, int)
        known = inst[inst >= 0]
        if known.size and not np.any(known == 1):
            return AZ
    return ao_type


def super_class(label: str) -> str:
    """Z bag label -> super-class name (A1A2, A3A4, AZ; A0 -> AZ, see CHOSEN)."""
    class_index(label)
    return SUPER_OF[label]


def super_index(label: str) -> int:
    """Z bag label -> super-class index into SUPER_CLASSES."""
    return SUPER_CLASSES.index(super_class(label))


def case_label(ao_type: str) -> str:
    """Final (ensemble) label of a case: its AO type (the paper's reprocessed bag label)."""
    class_index(ao_type)
    return ao_type


def ensemble(s_pred: str, z_pred: str) -> str:
    """The paper's rule: Z predicts; where Z says AZ (or A0, see CHOSEN), S's prediction is final."""
    class_index(s_pred)
    class_index(z_pred)
    return s_pred if z_pred in (AZ, A0) else z_pred


def ensemble_indices(s_pred, z_pred) -> np.ndarray:
    """Vectorised ensemble() on arrays of class indices (paper numbering)."""
    s, z = np.asarray(s_pred, int), np.asarray(z_pred, int)
    if s.shape != z.shape:
        raise ValueError(f"S and Z predictions differ in shape: {s.shape} vs {z.shape}")
    defer = (z == class_index(AZ)) | (z == class_index(A0))
    return np.where(defer, s, z)
