"""Patient-grouped folds and hold-out splits, shared by every fitted stage (no torch import).

All rows of one patient (``groups`` = case ids) fall on the same side of every split.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

__all__ = ["patient_folds", "patient_split"]


def patient_folds(groups, k: int, seed: int, y=None) -> np.ndarray:
    """Fold index (0..k-1) of each row; all rows of one patient share a fold.

    Stratified by ``y`` where given (sklearn StratifiedGroupKFold, shuffled with ``seed``);
    fewer patients than folds is an error naming both numbers.
    """
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    groups = np.asarray(groups).astype(str)
    n_pat = len(np.unique(groups))
    if k < 2 or n_pat < k:
        raise InputError(f"{k}-fold CV needs at least {k} patients (and k >= 2); the training set "
                         f"has {n_pat}", field="cv_folds")
    folds = np.full(len(groups), -1, dtype=int)
    if y is not None:
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        it = splitter.split(np.zeros(len(groups)), np.asarray(y), groups)
    else:
        # GroupKFold has no shuffle: permute patient order by seed first.
        rng = np.random.default_rng(seed)
        uniq = np.unique(groups)
        order = {g: i for i, g in enumerate(rng.permutation(uniq))}
        keyed = np.array([order[g] for g in groups])
        it = GroupKFold(n_splits=k).split(np.zeros(len(groups)), groups=keyed)
    for f, (_, val) in enumerate(it):
        folds[val] = f
    return folds


def patient_split(groups, test_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the test rows: ``test_fraction`` of patients drawn with ``seed``."""
    groups = np.asarray(groups).astype(str)
    uniq = np.unique(groups)
    rng = np.random.default_rng(seed)
    n_test = max(1, int(round(test_fraction * len(uniq))))
    if n_test >= len(uniq):
        raise InputError(f"cannot hold out {n_test} of {len(uniq)} patients", field="test_fraction")
    test = set(rng.permutation(uniq)[:n_test].tolist())
    return np.array([g in test for g in groups])
