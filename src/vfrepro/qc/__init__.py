"""Figures that let a person see the data: montages of slices with mask outlines."""
