"""Ingest a cohort: one QC row per case, a NIfTI per case that passes, failures kept apart.

One bad case never stops the others: every case gets a QC row with status ok / failed and
the reason, and the caller decides (config `ingest.exclude_failed`) whether failures stop
the run.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pydicom.uid
import SimpleITK as sitk

from vfrepro.errors import InputError
from vfrepro.ingest.convert import correct_tilt, read_volume, to_image
from vfrepro.ingest.geometry import GeometryError, order_slices
from vfrepro.ingest.series import UNCOMPRESSED, check_rescale, choose_series, find_series

QC_COLUMNS = ["case_id", "status", "reason", "nifti_path", "modality", "n_series", "n_slices",
              "size_x", "size_y", "size_z", "spacing_x", "spacing_y", "spacing_z",
              "slice_thickness", "step_min", "step_max", "tilt_deg", "tilt_corrected",
              "transfer_syntax", "compressed", "notes"]


@dataclass(frozen=True)
class IngestOptions:
    """What ingest accepts. Defaults refuse anything that would need invented data."""

    correct_tilt: bool = True  # shift slices in-plane (as dcm2niix does) rather than refuse
    max_tilt_deg: float = 30.0
    spacing_rel_tol: float = 0.05
    require_modality: str | None = "CT"
    min_slices: int = 3  # a CT vertebra needs many; 2 positions cannot reveal a missing slice


def _syntax_name(uid: str) -> str:
    try:
        return pydicom.uid.UID(uid).name
    except Exception:  # unknown private syntax: keep the UID
        return uid


def ingest_case(case_id: str, dicom_dir: str, out_path: str | Path | None,
                options: IngestOptions = IngestOptions()) -> tuple[dict, sitk.Image | None]:
    """Find, check and convert one case's series; give its QC row and the image (None if failed).

    Writes the image to `out_path` when given and the case passes.
    """
    row: dict = {c: None for c in QC_COLUMNS}
    row.update(case_id=case_id, status="failed", tilt_corrected=False)
    try:
        all_series = find_series(dicom_dir, case_id)
        series, note = choose_series(all_series, case_id)
        check_rescale(series, case_id)
        first = series.slices[0]
        syntaxes = sorted(series.transfer_syntaxes)
        row.update(n_series=len(all_series), n_slices=len(series.slices), modality=first.modality,
                   transfer_syntax=";".join(_syntax_name(s) for s in syntaxes),
                   compressed=any(s not in UNCOMPRESSED for s in syntaxes), notes=note,
                   slice_thickness=first.slice_thickness)
        if options.require_modality and first.modality != options.require_modality:
            raise GeometryError(f"modality {first.modality}, expected {options.require_modality}")
        odd = next((s for s in series.slices if s.modality != first.modality), None)
        if odd is not None:  # one series, one modality: a stray slice is a mixed-up copy
            raise InputError(f"Modality {odd.modality} in one slice of a {first.modality} series "
                             f"(first slice {first.name}): slices of another scan mixed in",
                             case=case_id, path=odd.name, field="Modality")
        if len(series.slices) < options.min_slices:
            raise GeometryError(f"only {len(series.slices)} slice(s), fewer than min_slices="
                                f"{options.min_slices}")
        geom = order_slices(series, spacing_rel_tol=options.spacing_rel_tol)
        numbers = [s.instance_number for s in geom.slices if s.instance_number is not None]
        if len(numbers) == len(geom.slices) and len(set(numbers)) == len(numbers):
            span = max(numbers) - min(numbers) + 1
            if span != len(numbers):  # positions are regular, so only worth a note
                row["notes"] = "; ".join(filter(None, [row["notes"], f"InstanceNumber skips "
                                                      f"{span - len(numbers)} value(s)"]))
        row.update(size_x=geom.size[0], size_y=geom.size[1], size_z=geom.size[2],
                   spacing_x=geom.spacing_xy[0], spacing_y=geom.spacing_xy[1],
                   spacing_z=geom.slice_step, step_min=float(geom.steps.min()),
                   step_max=float(geom.steps.max()), tilt_deg=round(geom.tilt_deg, 3))
        volume = read_volume(geom)
        if geom.tilt_deg > 0.01:
            if geom.tilt_deg > options.max_tilt_deg or not options.correct_tilt:
                raise GeometryError(f"gantry tilt of {geom.tilt_deg:.1f} degrees; tilt correction is "
                                    f"off or the tilt exceeds max_tilt_deg={options.max_tilt_deg}")
            volume = correct_tilt(volume, geom, fill=float(volume.min()))
            row["tilt_corrected"] = True
        image = to_image(volume, geom, tilt_corrected=bool(row["tilt_corrected"]))
        if out_path is not None:
            Path(out_path).parent.mkdir(parents=True, exist_ok=True)
            sitk.WriteImage(image, str(out_path), useCompression=True)
            row["nifti_path"] = str(out_path)
        row.update(status="ok", reason="")
        return row, image
    except (InputError, GeometryError) as exc:
        row["reason"] = scrub_path(str(exc), dicom_dir)
    except Exception as exc:  # a decoder or library failure must not take the other cases down
        row["reason"] = scrub_path(f"{type(exc).__name__}: {exc}", dicom_dir)
    return row, None


def scrub_path(text: str, dicom_dir: str | Path) -> str:
    """`text` with the case folder's path (which may carry a patient's name) replaced by
    '<dicom_dir>': a library's message names the file it failed on by its absolute path."""
    spellings = {str(dicom_dir), os.path.abspath(str(dicom_dir)), os.path.realpath(str(dicom_dir))}
    for s in sorted((s.rstrip("/") for s in spellings if s and s.rstrip("/")), key=len, reverse=True):
        text = text.replace(s, "<dicom_dir>")
    return text


def _worker(args) -> dict:
    case_id, dicom_dir, out_path, options = args
    sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(1)
    return ingest_case(case_id, dicom_dir, out_path, options)[0]


def ingest_cases(cases: pd.DataFrame, out_dir: str | Path, options: IngestOptions = IngestOptions(),
                 threads: int = 1) -> pd.DataFrame:
    """Ingest every row of `cases` (columns case_id, dicom_dir) into out_dir/images/<case>.nii.gz.

    Writes and returns the QC table (out_dir/qc.csv), one row per case, in case order.
    """
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    jobs = [(r.case_id, r.dicom_dir, out_dir / "images" / f"{r.case_id}.nii.gz", options)
            for r in cases.itertuples()]
    if threads > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=min(threads, len(jobs), os.cpu_count() or 1)) as pool:
            rows = list(pool.map(_worker, jobs))
    else:
        rows = [_worker(j) for j in jobs]
    qc = pd.DataFrame(rows, columns=QC_COLUMNS)
    qc.to_csv(out_dir / "qc.csv", index=False)
    return qc


def failure_report(qc: pd.DataFrame) -> str:
    """A readable list of failed cases and their reasons ('' when none failed)."""
    failed = qc[qc["status"] != "ok"]
    if failed.empty:
        return ""
    lines = [f"{len(failed)} of {len(qc)} case(s) failed ingest QC:"]
    lines += [f"  {r.case_id}: {r.reason}" for r in failed.itertuples()]
    return "\n".join(lines)
