"""Resampling (a phantom of known volume) and the mask checks."""

import json

import numpy as np
import pytest
import SimpleITK as sitk

from vfrepro.cli import main
from vfrepro.errors import InputError
from vfrepro.preprocess.resample import (check_same_grid, label_volumes, resample_image,
                                         resample_mask, target_grid)


def sphere_image(spacing=(0.7, 0.7, 2.5), radius=12.0, size_mm=60.0, label=20):
    size = [int(round(size_mm / s)) for s in spacing]
    z, y, x = np.meshgrid(*[(np.arange(n) + 0.5) * s - size_mm / 2 for n, s in zip(size[::-1], spacing[::-1])],
                          indexing="ij")
    inside = np.sqrt(x**2 + y**2 + z**2) <= radius
    img = sitk.GetImageFromArray(np.where(inside, 700, -100).astype(np.int16))
    mask = sitk.GetImageFromArray((inside * label).astype(np.uint8))
    for im in (img, mask):
        im.SetSpacing(spacing)
        im.SetOrigin((-size_mm / 2 + spacing[0] / 2, -size_mm / 2 + spacing[1] / 2, -size_mm / 2 + spacing[2] / 2))
    return img, mask, 4 / 3 * np.pi * radius**3


@pytest.mark.parametrize("spacing", [(0.7, 0.7, 2.5), (0.5, 0.5, 1.0), (0.9, 0.9, 3.0)])
def test_resampled_sphere_volume_within_two_percent(spacing):
    img, mask, true_volume = sphere_image(spacing)
    ref = target_grid(img, (1.0, 1.0, 1.0))
    out = resample_mask(mask, ref)
    assert out.GetSpacing() == (1.0, 1.0, 1.0)
    volume = (sitk.GetArrayFromImage(out) == 20).sum() * 1.0
    assert volume == pytest.approx(true_volume, rel=0.02)
    resampled = sitk.GetArrayFromImage(resample_image(img, ref))
    # B-spline keeps the inside bright where the mask says so.
    assert resampled[sitk.GetArrayFromImage(out) == 20].mean() > 500


@pytest.mark.parametrize("change,field", [
    (lambda m: m.SetSpacing((0.8, 0.7, 2.5)), "spacing"),
    (lambda m: m.SetOrigin((0.0, 0.0, 5.0)), "origin"),
    (lambda m: m.SetDirection((1, 0, 0, 0, -1, 0, 0, 0, -1)), "direction"),
])
def test_geometry_mismatch_names_the_field(change, field):
    img, mask, _ = sphere_image()
    change(mask)
    with pytest.raises(InputError, match=f"field {field}") as err:
        check_same_grid(img, mask, case="c0000000001", mask_path="m.nii.gz")
    assert "case c0000000001" in str(err.value) and "file m.nii.gz" in str(err.value)


def test_size_mismatch():
    img, _, _ = sphere_image()
    _, small, _ = sphere_image(size_mm=40.0)
    with pytest.raises(InputError, match="field size"):
        check_same_grid(img, small, case="c1", mask_path="m.nii.gz")


def test_empty_and_tiny_labels_refused_by_level():
    _, mask, _ = sphere_image(radius=2.0)
    with pytest.raises(InputError, match="vertebra T12 .label 19. is empty"):
        label_volumes(mask, {19: "T12"}, case="c1", mask_path="m.nii.gz", min_voxels=10)
    with pytest.raises(InputError, match="vertebra L1 .label 20. has only"):
        label_volumes(mask, {20: "L1"}, case="c1", mask_path="m.nii.gz", min_voxels=100)


def test_cli_writes_one_grid_for_image_and_both_readers(tmp_path):
    img, mask, _ = sphere_image()
    for name, im in [("img", img), ("m1", mask), ("m2", mask)]:
        sitk.WriteImage(im, str(tmp_path / f"{name}.nii.gz"))
    args = ["preprocess", "--case-id", "c0000000001", "--image", str(tmp_path / "img.nii.gz"),
            "--labels", "20:L1"]
    assert main(args + ["--mask", str(tmp_path / "m1.nii.gz"), "--out-image", str(tmp_path / "i.nii.gz"),
                        "--out-mask", str(tmp_path / "o1.nii.gz"), "--out-summary", str(tmp_path / "s.json")]) == 0
    assert main(args + ["--mask", str(tmp_path / "m2.nii.gz"), "--reference", str(tmp_path / "i.nii.gz"),
                        "--out-mask", str(tmp_path / "o2.nii.gz")]) == 0
    a, b, c = (sitk.ReadImage(str(tmp_path / f)) for f in ("i.nii.gz", "o1.nii.gz", "o2.nii.gz"))
    assert a.GetSize() == b.GetSize() == c.GetSize() and a.GetOrigin() == c.GetOrigin()
    assert json.loads((tmp_path / "s.json").read_text())["mask_voxels"]["L1"] > 7000
    assert main(args + ["--mask", str(tmp_path / "m1.nii.gz"), "--out-image", str(tmp_path / "x.nii.gz"),
                        "--out-mask", str(tmp_path / "x1.nii.gz"), "--min-voxels", "100000"]) == 2
