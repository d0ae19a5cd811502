"""Batch (site / scanner) harmonisation of features: ComBat fitted on training rows only."""

from .combat import ComBat

__all__ = ["ComBat"]
