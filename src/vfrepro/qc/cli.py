"""`vfrepro montage`: a per-site picture of the data, for a person to look at."""

from __future__ import annotations

from vfrepro.qc.montage import site_montage


def add_parser(sub) -> None:
    p = sub.add_parser(
        "montage", help="mid-sagittal montage of cases with mask outlines (PNG)",
        description="Draw one mid-sagittal CT slice per case (bone window) with the reader-1 "
        "vertebral body outlines, titled by pseudonymous case id.")
    p.add_argument("--images", nargs="+", required=True, help="resampled images (NIfTI)")
    p.add_argument("--masks", nargs="+", required=True, help="resampled masks, same order")
    p.add_argument("--case-ids", nargs="+", required=True, help="case ids, same order")
    p.add_argument("--title", default="", help="figure title (e.g. the site)")
    p.add_argument("--max-cases", type=int, default=12, help="at most this many panels")
    p.add_argument("--out", required=True, help="PNG to write")
    p.set_defaults(func=run)


def run(args) -> int:
    if not (len(args.images) == len(args.masks) == len(args.case_ids)):
        raise SystemExit("montage: --images, --masks and --case-ids must have the same length")
    site_montage(args.images, args.masks, args.case_ids, args.title, args.out, args.max_cases)
    return 0
