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


def patient_split(groups, test_fraction: float, seed: int, y=None) -> np.ndarray:
    """Boolean mask of the test rows: ``test_fraction`` of patients drawn with ``seed``.

    With ``y`` (row labels): stratified by class (sklearn StratifiedGroupKFold with
    ``round(1 / test_fraction)`` folds, shuffled with ``seed``); the test split is the first
    fold that holds every class the cohort allows on both sides (a class with at least two
    patients), else the first fold that holds the most such classes.
    """
    if y is not None:
        return _stratified_split(groups, y, test_fraction, seed)
    groups = np.asarray(groups).astype(str)
    uniq = np.unique(groups)
    rng = np.random.default_rng(seed)
    n_test = max(1, int(round(test_fraction * len(uniq))))
    if n_test >= len(uniq):
        raise InputError(f"cannot hold out {n_test} of {len(uniq)} patients", field="test_fraction")
    test = set(rng.permutation(uniq)[:n_test].tolist())
    return np.array([g in test for g in groups])


def _stratified_split(groups, y, test_fraction: float, seed: int) -> np.ndarray:
    from sklearn.model_selection import StratifiedGroupKFold

    groups, y = np.asarray(groups).astype(str), np.asarray(y).astype(str)
    if not 0 < test_fraction < 1:
        raise InputError(f"test_fraction must lie between 0 and 1, not {test_fraction}", field="test_fraction")
    k = max(2, int(round(1 / test_fraction)))
    n_pat = len(np.unique(groups))
    if n_pat < k:
        raise InputError(f"a 1/{k} patient hold-out needs at least {k} patients; there are {n_pat}",
                         field="test_fraction")
    # A class can sit on both sides only when at least two patients have it.
    possible = [c for c in np.unique(y) if len(np.unique(groups[y == c])) >= 2]
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    best, best_score = None, -1
    for _, test in splitter.split(np.zeros(len(y)), y, groups):
        mask = np.zeros(len(y), dtype=bool)
        mask[test] = True
        score = sum(c in set(y[mask]) and c in set(y[~mask]) for c in possible)
        if score > best_score:
            best, best_score = mask, score
        if score == len(possible):
            break
    return best
