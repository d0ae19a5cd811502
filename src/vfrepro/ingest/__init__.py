"""DICOM ingest: find a series, order and check its slices, convert it to NIfTI with its geometry."""
