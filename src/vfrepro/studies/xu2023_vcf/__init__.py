"""xu2023_vcf: acute / chronic / pathologic VCF on lateral radiograph crops (ResNet-18, multi-site).

Xu et al., Front. Endocrinol. 2023;14:1025749 (seed 002). Development cohort split 8:2 by
patient (the manifest's train / internal split, or a seeded patient-level redraw), each
external site and the prospective set evaluated apart (:mod:`.study`: ``CLASSES``,
``LABEL_COL``, ``prepare``, ``crop_spec`` for the shared engine). :mod:`.tables`: Table 2 per
dataset published beside reproduced, ROC / confusion panels, the optional reader study
(Table 3 layout + McNemar per reader). :mod:`.cli`: ``vfrepro xu2023_vcf {train,evaluate,reader-study}``.
"""

from .study import CLASSES, COLUMNS, LABEL_COL, PUBLISHED_EXTERNAL, STUDY, crop_spec, prepare, published_name
from .tables import TABLE_METRICS, ovr_metrics, reader_columns, reader_study, table2

__all__ = ["STUDY", "CLASSES", "LABEL_COL", "COLUMNS", "PUBLISHED_EXTERNAL", "crop_spec", "prepare",
           "published_name", "TABLE_METRICS", "ovr_metrics", "table2", "reader_columns", "reader_study"]
