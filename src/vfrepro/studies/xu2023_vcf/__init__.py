"""xu2023_vcf: acute / chronic / pathologic VCF on lateral radiograph crops (ResNet-18, multi-site).

Xu et al., Front. Endocrinol. 2023;14:1025749 (seed 002). Development cohort split 8:2 by
patient, stratified by class (or the manifest's train / internal split), each
external site and the prospective set evaluated apart (:mod:`.study`: ``CLASSES``,
``LABEL_COL``, ``prepare``, ``crop_spec`` for the shared engine). :mod:`.tables`: Table 2 per
dataset published beside reproduced, ROC / confusion panels, the optional reader study
(Table 3 layout + McNemar per reader, Fig 6), Table 1, chosen.csv. :mod:`.cli`: ``vfrepro xu2023_vcf {train,evaluate,reader-study}``.
"""

from .study import CLASSES, COLUMNS, LABEL_COL, PUBLISHED_EXTERNAL, STUDY, crop_spec, prepare, published_name
from .tables import (TABLE_METRICS, ovr_metrics, paper_overall, reader_columns, reader_figure, reader_study, table1,
                     table2)

__all__ = ["STUDY", "CLASSES", "LABEL_COL", "COLUMNS", "PUBLISHED_EXTERNAL", "crop_spec", "prepare",
           "published_name", "TABLE_METRICS", "ovr_metrics", "paper_overall", "table1", "table2", "reader_columns",
           "reader_study", "reader_figure"]
