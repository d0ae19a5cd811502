"""rosenberg_xray: fracture vs no fracture on lateral radiograph vertebra crops (ResNet18 vs VGG16).

Sanchez Rosenberg et al. (AO Research Institute Davos; seed 001). Training: the engine
(vfrepro.deep) with k-fold CV over learning rate and batch size on the training set, refit on
all of it; this package gives it ``CLASSES``, ``LABEL_COL``, ``prepare`` and ``crop_spec``
(:mod:`.study`). :mod:`.tables`: confusion counts, accuracy, sensitivity, specificity, ROC AUC
with DeLong CI, DeLong test ResNet18 vs VGG16 and the paper's Figure 4 layout with published
beside reproduced; :mod:`.cam`: class activation maps for TP/TN/FP/FN samples; :mod:`.cli`:
``vfrepro rosenberg_xray {train,evaluate,cam}``.
"""

from .study import CLASS_NAMES, CLASSES, COLUMNS, LABEL_COL, STUDY, crop_spec, prepare
from .tables import binary_metrics, evaluate, figure4_table

__all__ = ["STUDY", "CLASSES", "CLASS_NAMES", "LABEL_COL", "COLUMNS", "prepare", "crop_spec",
           "binary_metrics", "figure4_table", "evaluate"]
