"""wang2024_twostage datasets: D4 box transforms follow the image, resampling counts, patches."""

import numpy as np
import pytest
import torch

from vfrepro.studies.wang2024_twostage import datasets as D
from vfrepro.studies.wang2024_twostage.boxes import iom
from vfrepro.studies.wang2024_twostage.slices import SagittalSlice


def _box_of(mask: torch.Tensor):
    r = torch.nonzero(mask.any(dim=1)).reshape(-1)
    c = torch.nonzero(mask.any(dim=0)).reshape(-1)
    return [int(c[0]), int(r[0]), int(c[-1]) + 1, int(r[-1]) + 1]


@pytest.mark.parametrize("k", range(8))
def test_boxes_follow_image_under_d4(k):
    h, w = 20, 32                                      # non-square on purpose
    boxes = [[2, 3, 9, 7], [20, 10, 31, 20], [0, 0, 1, 1]]
    imgs = []
    for b in boxes:
        m = torch.zeros(1, h, w)
        m[0, b[1]:b[3], b[0]:b[2]] = 1
        imgs.append(m)
    tb = D.d4_boxes(boxes, k, h, w)
    for m, b in zip(imgs, tb):
        tm = D.d4_image(m, k)[0] > 0
        assert _box_of(tm) == [int(v) for v in b.tolist()]
    assert len({tuple(D.d4_image(torch.arange(6.).reshape(1, 2, 3), j).flatten().tolist()) for j in range(8)}) == 8


def _slice(cid="c1", n=3, size=64, labels=None):
    img = np.random.default_rng(0).integers(0, 255, (size, size)).astype(np.uint8)
    boxes = np.array([[10, 5 + 18 * i, 40, 20 + 18 * i] for i in range(n)], np.float32)
    lab = np.zeros((n, 5), np.uint8) if labels is None else np.asarray(labels, np.uint8)
    return SagittalSlice(cid, 30, img, boxes, tuple(f"L{i}" for i in range(n)), lab, (0, 0))


def test_detection_dataset_offline8_and_random():
    s = _slice()
    ds = D.DetectionDataset([s, s], augment="offline8")
    assert len(ds) == 16
    x, t = ds[5]
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32 and float(x.max()) <= 1
    assert t["boxes"].shape == (3, 4) and t["labels"].dtype == torch.int64 and (t["labels"] == 1).all()
    assert torch.allclose(t["boxes"], D.d4_boxes(s.boxes, 5, 64, 64))
    r = D.DetectionDataset([s], augment="random", channels=1, seed=2)
    assert len(r) == 1 and r[0][0].shape == (1, 64, 64)
    ops = set()
    for e in range(20):
        r.set_epoch(e)
        ops.add(r.op_of(0)[1])
    assert len(ops) > 3
    imgs, tg = D.detection_collate([ds[0], ds[1]])
    assert len(imgs) == 2 and len(tg) == 2


def test_paper_resampling_counts_from_table2():
    # The paper's training counts (Table 2) -> its resampled counts (Methods).
    counts = [8046, 3257, 824, 478, 1979]
    rows = [np.eye(5)[k] for k, n in enumerate(counts) for _ in range(n)] + [np.zeros(5)] * 47604
    y = np.array(rows)
    idx = D.paper_resample_indices(y, rng=np.random.default_rng(0))
    c = D.class_counts(y[idx])
    assert c == {"ovcf": 8046, "of": 4023, "sn": 4023, "kd": 4023, "ps": 4023, "normal": 16092}
    normal_idx = idx[y[idx].sum(axis=1) == 0]
    assert len(np.unique(normal_idx)) == len(normal_idx)          # under-sampled without replacement
    w = D.paper_sampling_weights(y)
    exp = {k: float(w[y[:, j] == 1].sum()) for j, k in enumerate(("ovcf", "of", "sn", "kd", "ps"))}
    exp["normal"] = float(w[y.sum(axis=1) == 0].sum())
    assert exp == pytest.approx({"ovcf": 8046, "of": 4023, "sn": 4023, "kd": 4023, "ps": 4023,
                                 "normal": 16092})


def test_resampling_keeps_large_minority_and_multilabel():
    y = np.zeros((40, 5))
    y[:9, 0] = 1                        # 9 OVCF (+ row 18 below = 10)
    y[10:18, 1] = 1                     # 8 OF (> 0.5 x 10): kept as is
    y[18:20, 3] = 1                     # 2 KD ...
    y[18, 0] = 1                        # ... one also OVCF (multi-label)
    idx = D.paper_resample_indices(y, rng=np.random.default_rng(1))
    c = D.class_counts(y[idx])
    assert c["of"] == 8 and c["kd"] == 5 and c["normal"] == 20 and c["sn"] == 0 and c["ovcf"] >= 10
    assert D.paper_sampling_weights(y)[18] == pytest.approx(2.5)


def test_patch_sources_and_dataset():
    s = _slice(labels=[[1, 0, 0, 1, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]])
    src = D.patch_sources([s])
    assert [p.target.tolist() for p in src] == [[1, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 1]]
    det = [np.vstack([s.boxes + 1, [[45, 45, 60, 60]]])]
    src2 = D.patch_sources([s], det)
    assert [p.source for p in src2] == ["annotated", "detected", "detected", "detected"]
    assert all(float(iom(p.box[None], s.boxes[:1]).max()) < 0.5 for p in src2[1:])
    cfg = D.PatchConfig(n_jitter=5, max_shift=2, canvas=48, out=32)
    ds = D.PatchDataset(src, cfg, mode="offline", seed=0)
    assert len(ds) == 15
    x, y = ds[0]
    assert x.shape == (3, 32, 32) and y.tolist() == [1, 0, 0, 1, 0, 0]
    assert ds.group_of(0) == ds.group_of(4) != ds.group_of(5)
    assert torch.equal(ds[3][0], ds[3][0])                   # offline: fixed patches
    on = D.PatchDataset(src, cfg, mode="online", augment=D.PatchAugment(), with_normal=False, seed=0)
    assert len(on) == 3 and on[0][1].shape == (5,)
    a = on[0][0]
    on.set_epoch(1)
    assert not torch.equal(a, on[0][0])
    assert float(a.min()) >= 0 and float(a.max()) <= 1
