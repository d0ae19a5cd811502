"""PyRadiomics extraction from the repo params file (liu2025_dlr stage 1)."""
