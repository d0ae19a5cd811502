"""qu2025_mil label maps: per-view bag labels, A0 in Z, super-classes, the ensemble rule."""

import itertools

import numpy as np
import pytest

from vfrepro.studies.qu2025_mil import labels as L


def test_class_indices_follow_the_paper():
    assert [L.class_index(c) for c in ("A0", "A1", "A2", "A3", "A4", "AZ")] == [0, 1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="B1"):
        L.class_index("B1")


@pytest.mark.parametrize("ao", ["A1", "A2", "A3", "A4"])
def test_body_fractures_keep_their_type_in_both_views(ao):
    assert L.bag_label("S", ao, [0, 1, 1, 0, 0]) == ao
    assert L.bag_label("Z", ao, [1, 0, 0, 0, 0]) == ao


def test_view_without_fracture_slice_is_az():
    # The paper's example: an A0 case whose classic folder holds only s4, s5.
    assert L.bag_label("S", "A0", [0, 0, 0, 1, 1]) == "A0"
    assert L.bag_label("Z", "A0", [0, 0, 0, 0, 0]) == "AZ"
    assert L.bag_label("S", "A3", [0, 0, 0, 0, 0]) == "AZ"
    assert L.bag_label("Z", "A1", [0] * 5) == "AZ"


def test_a0_never_appears_in_z():
    for inst in (None, [1] * 5, [0] * 5, [-1] * 5):
        assert L.bag_label("Z", "A0", inst) == "AZ"
    assert L.bag_label("S", "A0", None) == "A0"
    assert L.super_class("A0") == "AZ"


def test_unknown_instances_keep_the_case_type_and_az_stays_az():
    assert L.bag_label("S", "A2", None) == "A2"
    assert L.bag_label("S", "A2", [-1] * 5) == "A2"
    assert L.bag_label("S", "AZ", [1, 0, 0, 0, 0]) == "AZ"
    with pytest.raises(ValueError):
        L.bag_label("X", "A1", None)


def test_super_class_map():
    assert {c: L.super_class(c) for c in ("A1", "A2", "A3", "A4", "AZ")} == {
        "A1": "A1A2", "A2": "A1A2", "A3": "A3A4", "A4": "A3A4", "AZ": "AZ"}
    assert [L.super_index(c) for c in ("A1", "A2", "A3", "A4", "AZ", "A0")] == [0, 0, 1, 1, 2, 2]
    assert L.case_label("A0") == "A0"


def test_ensemble_truth_table():
    for s, z in itertools.product(L.AO_CLASSES, repeat=2):
        want = s if z in ("AZ", "A0") else z
        assert L.ensemble(s, z) == want, (s, z)
    s = [L.class_index(a) for a, _ in itertools.product(L.AO_CLASSES, repeat=2)]
    z = [L.class_index(b) for _, b in itertools.product(L.AO_CLASSES, repeat=2)]
    got = L.ensemble_indices(s, z)
    want = [L.class_index(L.ensemble(L.class_name(a), L.class_name(b))) for a, b in zip(s, z)]
    np.testing.assert_array_equal(got, want)
    # Spot checks named in the paper: Z says AZ -> S decides (A0 recovered); else Z stands.
    assert L.ensemble("A0", "AZ") == "A0"
    assert L.ensemble("AZ", "A3") == "A3"
    assert L.ensemble("A1", "AZ") == "A1"


def test_chosen_lists_the_az_reading():
    from vfrepro.studies import qu2025_mil
    t = qu2025_mil.chosen_table()
    assert {"module", "setting", "value", "reason"} <= set(t.columns)
    assert "super_class_of_AZ" in set(t.setting)
    assert t.reason.str.len().min() > 10
