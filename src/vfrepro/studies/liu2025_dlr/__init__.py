"""liu2025_dlr: deep-learning radiomics for the ASTLOF 3-class task (Liu et al., JMIR Med
Inform 2025;13:e75665), composed from the shared stages: :mod:`.cohort` (vertebra table),
:mod:`.features` (radiomics, ComBat, selection, fusion), :mod:`.classifier` (zoo),
:mod:`.evaluation` (metrics, DeLong, Table 3), :mod:`.nomogram` (combined model); :mod:`.cli`
is the ``vfrepro liu2025_dlr STAGE`` layer that reads and writes the files. Every fitted
object is fitted on ``split == "train"`` rows only.
"""

from .classifier import classify
from .cohort import (BACKBONE_NAMES, BACKBONES, CLASSES, CLINICAL, LABEL_COL, SPLIT_NAMES, SPLITS, STUDY,
                     build_cohort, check_classes, select_vertebrae)
from .features import fuse, harmonise, merge_radiomics, select_radiomics

__all__ = ["STUDY", "SPLITS", "SPLIT_NAMES", "BACKBONES", "BACKBONE_NAMES", "CLASSES", "CLINICAL", "LABEL_COL",
           "select_vertebrae", "build_cohort", "check_classes", "merge_radiomics", "harmonise",
           "select_radiomics", "fuse", "classify"]
