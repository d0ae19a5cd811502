"""vfrepro: reproduce published vertebral-fracture AI studies from raw DICOM to their tables."""

__version__ = "0.1.0"
