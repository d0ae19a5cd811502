"""`vfrepro preprocess`: resample one case's image and masks to the configured spacing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from vfrepro.errors import InputError
from vfrepro.preprocess.resample import (fit_mask_to_image, label_counts, label_volumes, read_image,
                                         resample_image, resample_mask, target_grid)


def _labels(text: str) -> dict[int, str]:
    """'18:T11,19:T12' -> {18: 'T11', 19: 'T12'}."""
    from vfrepro.io_safety import parse_label_levels  # a bad entry: InputError naming --labels
    return parse_label_levels(text, "--labels", "label{label}")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "preprocess", help="resample a case's image (B-spline) and mask (nearest neighbour)",
        description="Check that the mask is a label map of the image's physical region (a mask on another voxel "
        "grid of that region is first put onto the image grid, nearest neighbour), "
        "resample the image with a cubic B-spline and the mask with nearest neighbour onto one grid "
        "at --spacing, and refuse empty or tiny vertebra labels by name. With --reference, only the "
        "mask is resampled, onto that already resampled image's grid (e.g. a second reader's mask).")
    p.add_argument("--case-id", required=True, help="pseudonymous case id (for messages)")
    p.add_argument("--image", required=True, help="ingested image (NIfTI) the mask was drawn on")
    p.add_argument("--mask", required=True,
                   help="label map (NIfTI) of the image's region; on another voxel grid of the same "
                   "region (flipped or permuted axes) it is resampled onto the image grid (nearest neighbour)")
    p.add_argument("--labels", required=True,
                   help="vertebrae to check, as LABEL:LEVEL pairs, e.g. 18:T11,19:T12")
    p.add_argument("--spacing", type=float, nargs=3, default=[1.0, 1.0, 1.0], metavar=("X", "Y", "Z"),
                   help="target voxel spacing in mm (default 1 1 1)")
    p.add_argument("--min-voxels", type=int, default=100,
                   help="refuse a vertebra label with fewer voxels after resampling")
    p.add_argument("--out-image", help="resampled image to write (not with --reference)")
    p.add_argument("--out-mask", required=True, help="resampled mask to write")
    p.add_argument("--out-summary", help="JSON with grid and per-vertebra voxel counts")
    p.add_argument("--reference", help="already resampled image whose grid the mask goes onto")
    p.set_defaults(func=run)


def run(args) -> int:
    try:
        spacing = np.asarray(args.spacing, dtype=float)
        if not (np.isfinite(spacing).all() and (spacing > 0).all()):
            raise InputError(f"--spacing must be three positive voxel sizes in mm, got "
                             f"{' '.join(f'{v:g}' for v in spacing)}", case=args.case_id,
                             field="preprocess.spacing")
        # Named by field and file name only: SimpleITK's own errors carry the absolute path.
        image = read_image(args.image, case=args.case_id, field="image", what="--image")
        mask = read_image(args.mask, case=args.case_id, field="mask", what="--mask", label_map=True)
        label_counts(mask, case=args.case_id, mask_path=Path(args.mask).name)
        # Another voxel grid of the same region (flipped / permuted axes): onto the image grid.
        mask, note = fit_mask_to_image(image, mask, case=args.case_id, mask_path=Path(args.mask).name)
        if note:
            print(f"preprocess {args.case_id}: {note}")
        labels = _labels(args.labels)
        if args.reference:
            reference = read_image(args.reference, case=args.case_id, field="reference",
                                   what="--reference")
        else:
            if not args.out_image:
                raise InputError("--out-image is needed unless --reference is given")
            reference = target_grid(image, tuple(args.spacing))
            out_image = resample_image(image, reference)
            sitk.WriteImage(out_image, args.out_image, useCompression=True)
        out_mask = resample_mask(mask, reference)
        counts = label_volumes(out_mask, labels, case=args.case_id, mask_path=Path(args.mask).name,
                               min_voxels=args.min_voxels)
        sitk.WriteImage(out_mask, args.out_mask, useCompression=True)
    except InputError as exc:
        print(f"preprocess refused: {exc}", file=sys.stderr)
        return 2
    if args.out_summary:
        summary = {"case_id": args.case_id, "size": list(reference.GetSize()),
                   "spacing": list(reference.GetSpacing()),
                   "voxel_volume_mm3": float(np.prod(reference.GetSpacing())),
                   "mask_voxels": counts}
        Path(args.out_summary).write_text(json.dumps(summary, indent=1))
    print(f"preprocess {args.case_id}: grid {reference.GetSize()} at {tuple(reference.GetSpacing())} mm; "
          f"vertebra voxels {counts}")
    return 0
