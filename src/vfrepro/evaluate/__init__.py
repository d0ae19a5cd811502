"""Evaluation shared by every study: one predictions schema (:mod:`.schema`), metrics with CIs
(:mod:`.metrics`), the ROC and confusion-matrix figures (:mod:`.figures`) and the
published-vs-reproduced tables (:mod:`.published`, numbers from ``vfrepro/data/published``).

Study packages compose these; they compute and return, their ``cli`` modules write files.
"""
