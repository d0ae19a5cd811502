"""qu2025_mil bags: 5 axial + 5 coronal slices per vertebra, instance labels from the lesion map."""

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from vfrepro.errors import InputError
from vfrepro.studies.qu2025_mil import bags as B

LABEL = 20


def _phantom(lesion_z=None, posterior_lesion=False, schmorl=False):
    """(image, mask, lesion) 60 x 90 x 50 (z, y, x): a box vertebra z 15-44, y 10-39, x 10-39."""
    hu = np.full((60, 90, 50), -100.0, np.float32)
    hu[15:45, 10:40, 10:40] = 200.0
    mask = np.zeros(hu.shape, np.uint16)
    mask[15:45, 10:40, 10:40] = LABEL
    mask[0:10, 10:40, 10:40] = LABEL - 1        # neighbour below
    les = np.zeros(hu.shape, np.uint8)
    if lesion_z is not None:                    # an impaction band in a few axial planes
        les[lesion_z[0]:lesion_z[1], 17:38, 12:38] = 7
    if posterior_lesion:                        # A0: a fracture line behind the body
        les[18:22, 60:62, 22:26] = 1
    if schmorl:
        les[40:44, 20:30, 20:30] = 3
    les[2:6, 15:30, 15:30] = 1                  # the neighbour's fracture: not ours
    imgs = []
    for a, t in ((hu, sitk.sitkFloat32), (mask, sitk.sitkUInt16), (les, sitk.sitkUInt8)):
        im = sitk.GetImageFromArray(a)
        im.SetSpacing((1.0, 1.0, 1.0))
        im.SetOrigin((-25.0, -10.0, -500.0))
        imgs.append(sitk.Cast(im, t))
    return imgs


def test_positions_shapes_and_window():
    image, mask, les = _phantom()
    bags = B.vertebra_bags(image, mask, LABEL, les, case="c1", ao_type="AZ")
    s, z = bags["S"], bags["Z"]
    assert s.positions == [20, 25, 30, 34, 39]          # z 15..44 at (k+1)/6
    assert z.positions == [15, 20, 24, 29, 34]          # y 10..39 (round half to even)
    assert s.images.dtype == np.uint8 and s.images.shape[0] == 5
    assert s.images.shape[1] == s.images.shape[2] and z.images.shape[1] == z.images.shape[2]
    # bone window W1500/L400: 200 HU -> (200+350)/1500*255
    assert int(np.round(550 / 1500 * 255)) in np.unique(s.images)
    np.testing.assert_array_equal(s.instance_labels, 0)
    np.testing.assert_array_equal(z.instance_labels, 0)
    assert s.label == z.label == "AZ"


def test_body_lesion_marks_the_crossing_slices():
    image, mask, les = _phantom(lesion_z=(36, 42))
    bags = B.vertebra_bags(image, mask, LABEL, les, case="c1", ao_type="A1")
    np.testing.assert_array_equal(bags["S"].instance_labels, [0, 0, 0, 0, 1])   # only z = 39
    np.testing.assert_array_equal(bags["Z"].instance_labels, [0, 1, 1, 1, 1])   # y 17..37
    assert bags["S"].label == "A1" and bags["Z"].label == "A1"


def test_posterior_a0_lesion_is_axial_only():
    image, mask, les = _phantom(posterior_lesion=True)
    bags = B.vertebra_bags(image, mask, LABEL, les, case="c1", ao_type="A0")
    np.testing.assert_array_equal(bags["S"].instance_labels, [1, 0, 0, 0, 0])
    np.testing.assert_array_equal(bags["Z"].instance_labels, 0)
    assert (bags["S"].label, bags["Z"].label) == ("A0", "AZ")


def test_schmorl_node_and_neighbour_lesions_are_not_fractures():
    image, mask, les = _phantom(schmorl=True)
    bags = B.vertebra_bags(image, mask, LABEL, les, case="c1", ao_type="AZ")
    assert bags["S"].instance_labels.sum() == 0 and bags["Z"].instance_labels.sum() == 0


def test_lesion_map_on_another_grid_is_resampled():
    image, mask, les = _phantom(lesion_z=(36, 42))
    coarse = sitk.Resample(les, [50, 90, 30], sitk.Transform(), sitk.sitkNearestNeighbor,
                           les.GetOrigin(), (1.0, 1.0, 2.0), les.GetDirection(), 0, sitk.sitkUInt8)
    bags = B.vertebra_bags(image, mask, LABEL, coarse, case="c1", ao_type="A1")
    assert bags["S"].instance_labels[-1] == 1 and bags["S"].instance_labels[:3].sum() == 0


def test_without_lesion_map_labels_are_none_with_a_message():
    image, mask, _ = _phantom()
    bags = B.vertebra_bags(image, mask, LABEL, None, case="c9", ao_type="A3")
    assert bags["S"].instance_labels is None and "no lesion map" in bags["S"].message
    assert bags["S"].label == "A3" and bags["Z"].label == "A3"


def test_errors_name_case_file_and_field(tmp_path):
    image, mask, les = _phantom()
    with pytest.raises(InputError, match=r"case c1.*field mask_label"):
        B.vertebra_bags(image, mask, 7, les, case="c1", mask_path="m.nii.gz")
    d = tmp_path / "c2"
    d.mkdir()
    sitk.WriteImage(image, str(d / "image.nii.gz"))
    row = {"case_id": "c2", "mask_label": LABEL, "ao_type": "A1", "lesion_path": ""}
    with pytest.raises(InputError, match=r"case c2; file .*mask_reader1.nii.gz; field mask_path"):
        B.read_vertebra_bags(row, tmp_path)
    sitk.WriteImage(mask, str(d / "mask_reader1.nii.gz"))
    bags = B.read_vertebra_bags(row, tmp_path)
    assert bags["S"].instance_labels is None
    with pytest.raises(InputError, match=r"file .*nope.nii.gz; field lesion_path"):
        B.read_vertebra_bags({**row, "lesion_path": str(tmp_path / "nope.nii.gz")}, tmp_path)
    with pytest.raises(InputError, match="field ao_type"):
        B.read_vertebra_bags({**row, "ao_type": "B2"}, tmp_path)
