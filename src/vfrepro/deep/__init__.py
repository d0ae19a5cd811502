"""Shared CNN training engine for the radiograph/CT deep-learning branches.

models (the one builder and local-weights loader: torchvision classifiers, alexnet encoder,
Faster R-CNN detectors; head, freezing) · tasks (adapters: single-label, multi-label, MIL bags,
detection) · data (crops from manifest rows, array and detection datasets, factories,
patient-grouped splits/folds) · train (the one loop: optimisers, schedulers, samplers, checkpoints,
CSV log, determinism, AMP/channels-last on GPU) · cv (patient-grouped k-fold grid search whose
folds train as the refit does) · cam (CAM / Grad-CAM on a named layer) · resnet_features
(liu2025_dlr deep features). The commands that drive it are the studies' own
(`vfrepro <study> train`, src/vfrepro/studies/cli_common.py).
"""
