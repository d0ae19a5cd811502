"""Shared CNN training engine for the radiograph/CT deep-learning branches.

models (torchvision builders, local weights, head, freezing) · data (crops from manifest rows,
transforms, patient-grouped splits/folds) · train (loop, optimisers, schedulers, early stopping,
checkpoints, CSV log, determinism, AMP/channels-last on GPU) · cv (patient-grouped k-fold grid
search, refit) · cam (class activation maps) · cli (the `vfrepro train-cnn` / `evaluate-cnn` commands).
"""
