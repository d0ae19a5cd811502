"""Cohort sources: the synthetic multi-site spine cohort generator (and, from the lead, the manifest)."""
