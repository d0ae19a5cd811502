"""wang2024_twostage box geometry: IoM/IoU, hit-FN-FP matching, normal boxes, jitter, patches."""

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from vfrepro.studies.wang2024_twostage import boxes as B


def test_iom_hand_example():
    a = [[0, 0, 10, 10]]
    b = [[5, 5, 25, 15], [2, 2, 6, 6], [20, 20, 30, 30], [3, 3, 3, 8]]
    m = B.iom(a, b)[0].tolist()
    # overlap 5x5=25, min area 100 -> 0.25; inside -> 1; disjoint -> 0; zero-area box -> 0
    assert m == pytest.approx([0.25, 1.0, 0.0, 0.0])
    u = B.iou(a, b)[0].tolist()
    assert u[:3] == pytest.approx([25 / 275, 16 / 100, 0.0])
    assert torch.allclose(B.iou(a, b), box_iou(torch.tensor(a, dtype=torch.float32),
                                                torch.tensor(b, dtype=torch.float32)))


def test_match_hit_fn_fp():
    gt = [[0, 0, 10, 10], [0, 20, 10, 30], [0, 40, 10, 50]]
    det = [[1, 1, 9, 9],        # hit gt0 (IoM 1)
           [0, 22, 10, 32],     # hit gt1 (IoM 0.8)
           [0, 21, 10, 31],     # duplicate of gt1 (IoM 0.9 > 0.8: takes gt1, the other becomes FP)
           [50, 50, 60, 60],    # FP
           [0, 40, 10, 50]]     # below the score threshold: ignored -> gt2 is FN
    sc = [0.9, 0.8, 0.95, 0.99, 0.5]
    m = B.match(gt, det, sc)
    assert m.hits == [(0, 0), (1, 2)]
    assert m.fn == [2]
    assert sorted(m.fp) == [1, 3]
    assert (m.n_annotated, m.n_detected) == (3, 4)
    # IoM must exceed 0.5 strictly
    m2 = B.match([[0, 0, 10, 10]], [[5, 0, 15, 10]], [1.0])
    assert m2.hits == [] and m2.fn == [0] and m2.fp == [0]


def test_detection_errors_rates_and_correlation():
    gts = [[[0, 0, 10, 10], [0, 20, 10, 30]], [[0, 0, 10, 10]], [[0, 0, 10, 10], [0, 20, 10, 30], [0, 40, 10, 50]]]
    dets = [[[0, 0, 10, 10], [0, 20, 10, 30], [40, 40, 50, 50]], [], [[0, 0, 10, 10], [0, 20, 10, 30], [0, 40, 10, 50]]]
    scs = [[0.9, 0.9, 0.9], [], [0.9, 0.8, 0.76]]
    df, s = B.detection_errors(gts, dets, scs)
    assert df["fp"].tolist() == [1, 0, 0] and df["fn"].tolist() == [0, 1, 0]
    assert s["fp_rate"] == pytest.approx(1 / 6) and s["fn_rate"] == pytest.approx(1 / 6)
    assert np.isnan(df["fp_rate"].iloc[1])
    r, p = B.count_correlation([2, 1, 3], [3, 0, 3])
    from scipy.stats import pearsonr
    assert r == pytest.approx(pearsonr([2, 1, 3], [3, 0, 3]).statistic)
    assert np.isnan(B.count_correlation([2, 2, 2], [1, 2, 3])[0])
    h = B.error_histograms(df)
    assert h["fp"].to_dict() == {0: 2, 1: 1}


def test_normal_boxes():
    det = [[0, 0, 10, 10], [0, 20, 10, 30], [0, 40, 10, 50]]
    dis = [[1, 19, 11, 29], [0, 45, 10, 60]]       # IoM 0.81 and 0.5 (>= 0.5 -> not normal)
    assert B.normal_boxes(det, dis).tolist() == [0]
    assert B.normal_boxes(det, []).tolist() == [0, 1, 2]
    assert B.normal_boxes([], dis).tolist() == []


def test_jitter_bounds():
    rng = np.random.default_rng(1)
    box = np.array([100, 100, 160, 140], float)
    j = B.jitter_boxes(box, 2000, max_shift=10, scale=(0.9, 1.1), rng=rng)
    c = np.c_[(j[:, 0] + j[:, 2]) / 2 - 130, (j[:, 1] + j[:, 3]) / 2 - 120]
    s = (j[:, 2] - j[:, 0]) / 60
    assert np.abs(c).max() <= 10 + 1e-4 and np.abs(c).max() > 9.5
    assert s.min() >= 0.9 - 1e-6 and s.max() <= 1.1 + 1e-6
    assert np.allclose((j[:, 3] - j[:, 1]) / 40, s, atol=1e-5)      # isotropic scale
    assert B.scaled_shift(160) == pytest.approx(10 * 160 / 1024)


def test_crop_patch_pad_crop_resize():
    img = np.zeros((50, 50), np.uint8)
    img[10:20, 10:30] = 200
    p = B.crop_patch(img, [10, 10, 30, 20], canvas=40, out=40)
    assert p.shape == (40, 40) and p.dtype == np.uint8
    # 20 x 10 crop centred on a 40 x 40 zero canvas
    assert (p[15:25, 10:30] == 200).all() and p.sum() == 200 * 200
    big = B.crop_patch(np.full((100, 100), 7, np.uint8), [-10, -10, 90, 90], canvas=60, out=30)
    assert big.shape == (30, 30)
    q = B.jittered_patches(img, [10, 10, 30, 20], 5, max_shift=2, canvas=40, out=56,
                           rng=np.random.default_rng(0))
    assert q[0].shape == (5, 56, 56) and q[1].shape == (5, 4)
