"""`vfrepro radiomics`: PyRadiomics features of one case's vertebrae (one reader)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from vfrepro.errors import InputError


def _run(a) -> int:
    from .extract import extract_case, feature_columns, load_params, parse_labels

    t0 = time.time()
    try:
        params = load_params(a.params, a.bin_width)
        table = extract_case(a.image, a.mask, parse_labels(a.labels), a.case_id, a.reader, params)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(a.out, index=False)
    bad = table[table["status"] != "ok"]
    for r in bad.itertuples():
        print(f"warning: case {r.case_id} label {r.mask_label} ({r.level}) reader {r.reader}: {r.message}",
              file=sys.stderr)
    print(f"radiomics: case {a.case_id} reader {a.reader}: {len(table) - len(bad)}/{len(table)} vertebrae, "
          f"{len(feature_columns(table))} features, {time.time() - t0:.1f} s -> {a.out}")
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "radiomics", help="PyRadiomics features per vertebra of one case (liu2025_dlr stage 1)",
        description="Extract PyRadiomics 3.0.1 features (first-order, shape, GLCM, GLSZM, GLRLM, NGTDM, "
        "GLDM) from each labelled vertebra of a preprocessed case. Params come from a YAML file "
        "(default: the package's vfrepro/data/radiomics_params.yaml); --bin-width overrides binWidth. "
        "A failing vertebra is written with status=error and its message; the others are kept.")
    p.add_argument("--case-id", required=True, help="case id written to every output row")
    p.add_argument("--image", required=True, help="preprocessed image (NIfTI, HU)")
    p.add_argument("--mask", required=True, help="label map in the image's geometry")
    p.add_argument("--labels", required=True, help="LABEL:LEVEL pairs, comma separated (e.g. 20:L1,21:L2)")
    p.add_argument("--reader", type=int, default=1, choices=(1, 2),
                   help="reader whose mask this is, written to every output row (default: 1)")
    p.add_argument("--params", default=None, help="PyRadiomics params YAML (default: package file)")
    p.add_argument("--bin-width", type=float, default=None, help="override binWidth (HU)")
    p.add_argument("--out", required=True, help="output CSV (one row per vertebra)")
    p.set_defaults(func=_run)
    return p
