"""wang2024_twostage: Faster R-CNN vertebra detection + multi-label diagnosis on sagittal CT (phase 1: data, boxes, metrics, tables)."""
