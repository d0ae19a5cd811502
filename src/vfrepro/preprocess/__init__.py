"""Resampling of images (B-spline) and masks (nearest neighbour), with geometry and mask checks."""
