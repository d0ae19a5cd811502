"""Statistics shared by every study branch, each checked against R's reference implementation.

- :mod:`.roc`: AUC, DeLong CI and paired test (pROC), stratified bootstrap CI.
- :mod:`.multiclass`: one-vs-rest metrics table with a vectorised stratified bootstrap.
- :mod:`.icc`: the six Shrout-Fleiss ICC forms (psych::ICC).
- :mod:`.lasso`: L1 logistic / multinomial with CV-chosen lambda (glmnet).
- :mod:`.paired`: paired t-test and McNemar (R stats).
- :mod:`.multitest`: multiplicity-adjusted p-values (R ``p.adjust``).
- :mod:`.cluster`: patient-level (cluster) bootstrap of a proportion, Wilson when rows are patients.

Where a patient contributes several rows, pass ``groups``: the CIs then resample patients
(``roc.cluster_bootstrap_auc_ci``, ``multiclass_table(groups=...)``,
``cluster.cluster_bootstrap_proportion``).
"""

# `icc` the function is not re-exported: it would shadow the `icc` submodule.
from .cluster import cluster_bootstrap_proportion, proportion_ci
from .icc import icc_all, icc_per_feature
from .lasso import cv_lasso
from .multiclass import multiclass_table
from .multitest import adjust_p
from .paired import mcnemar, paired_t
from .roc import auc, bootstrap_auc_ci, cluster_bootstrap_auc_ci, delong_ci, delong_test

__all__ = ["auc", "bootstrap_auc_ci", "cluster_bootstrap_auc_ci", "delong_ci", "delong_test",
           "multiclass_table", "cluster_bootstrap_proportion", "proportion_ci", "icc_all", "icc_per_feature",
           "cv_lasso", "paired_t", "mcnemar", "adjust_p"]
