"""wang2024_twostage metrics: AP against pycocotools directly and by hand; Wilcoxon; per class."""

import numpy as np
import pytest

from vfrepro.studies.wang2024_twostage import metrics as M


def _cocoeval_ap(preds, targets):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    images, anns, dets, aid = [], [], [], 1
    for i, (p, t) in enumerate(zip(preds, targets)):
        images.append({"id": i, "width": 200, "height": 200})
        for b in t["boxes"]:
            x0, y0, x1, y1 = b
            anns.append({"id": aid, "image_id": i, "category_id": 1, "bbox": [x0, y0, x1 - x0, y1 - y0],
                         "area": (x1 - x0) * (y1 - y0), "iscrowd": 0})
            aid += 1
        for b, s in zip(p["boxes"], p["scores"]):
            x0, y0, x1, y1 = b
            dets.append({"image_id": i, "category_id": 1, "bbox": [x0, y0, x1 - x0, y1 - y0], "score": s})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "vertebra"}]}
    gt.createIndex()
    dt = gt.loadRes(dets)
    ev = COCOeval(gt, dt, "bbox")
    ev.params.iouThrs = np.array([0.5])
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return float(ev.stats[0]), ev.eval["precision"][0, :, 0, 0, -1]


def test_ap_hand_computable():
    gt = [{"boxes": [[0, 0, 10, 10], [20, 20, 30, 30]]}]
    pr = [{"boxes": [[0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 30]], "scores": [0.9, 0.8, 0.7]}]
    r = M.detection_ap(pr, gt)
    # PR points (R, P): (.5, 1), (.5, .5), (1, 2/3); 101-point interpolation: 51 x 1 + 50 x 2/3
    assert r["ap"] == pytest.approx((51 + 50 * 2 / 3) / 101, abs=1e-6)
    assert r["precision"][50] == pytest.approx(1.0) and r["precision"][51] == pytest.approx(2 / 3)


def test_ap_equals_pycocotools():
    rng = np.random.default_rng(3)
    preds, targets = [], []
    for _ in range(6):
        n = int(rng.integers(2, 6))
        g = np.array([[10, 10 + 30 * k, 50, 35 + 30 * k] for k in range(n)], float)
        d = g + rng.normal(0, 4, g.shape)
        d = np.vstack([d, [[100, 100, 130, 140]]])          # one FP per image
        d[:, 2:] = np.maximum(d[:, 2:], d[:, :2] + 1)
        targets.append({"boxes": g.tolist()})
        preds.append({"boxes": d.tolist(), "scores": rng.uniform(0.3, 1, len(d)).round(3).tolist()})
    ref_ap, ref_prec = _cocoeval_ap(preds, targets)
    r = M.detection_ap(preds, targets)
    assert r["ap"] == pytest.approx(ref_ap, abs=1e-6)
    assert np.allclose(r["precision"], ref_prec, atol=1e-6)
    pim = M.per_image_ap(preds, targets)
    assert pim.shape == (6,) and np.all((pim >= 0) & (pim <= 1))


def test_wilcoxon_pairs():
    a = {"precision": np.linspace(1, 0.8, 101)}
    b = {"precision": np.linspace(0.98, 0.7, 101)}
    w = M.wilcoxon_pr_curves(a, b)
    assert w["n_pairs"] == 101 and w["p"] < 1e-10
    same = M.wilcoxon_per_image([0.5, 0.7], [0.5, 0.7])
    assert same["p"] == 1.0 and "zero" in same["note"]


def test_per_class_metrics_hand_confusion():
    classes = ("a", "b", "c")
    y = np.array([[1, 0, 0], [1, 0, 0], [1, 0, 0], [0, 0, 0], [0, 0, 0], [0, 1, 0]])
    s = np.array([[.9, .1, .1], [.8, .2, .1], [.3, .1, .1], [.6, .1, .2], [.1, .9, .1], [.2, .4, .1]])
    t = M.per_class_metrics(y, s, classes=classes).set_index("class")
    # class a: TP 2, FN 1, FP 1, TN 2
    assert (t.loc["a", ["tp", "fn", "fp", "tn"]].tolist()) == [2, 1, 1, 2]
    assert t.loc["a", "sensitivity"] == pytest.approx(2 / 3)
    assert t.loc["a", "specificity"] == pytest.approx(2 / 3)
    assert t.loc["a", "ppv"] == pytest.approx(2 / 3) and t.loc["a", "f1"] == pytest.approx(2 / 3)
    assert t.loc["a", "auc"] == pytest.approx(8 / 9)
    # class b: its only positive scored 0.4 < 0.5 -> no predicted positive besides a false one
    assert t.loc["b", "sensitivity"] == 0.0
    # class c: no positives -> NaN sensitivity / AUC with a note, no crash
    assert np.isnan(t.loc["c", "sensitivity"]) and np.isnan(t.loc["c", "auc"])
    assert "no positives" in t.loc["c", "note"]
    sm = M.summary_without(t.reset_index(), exclude=("c",))
    assert sm.loc["sensitivity", "mean"] == pytest.approx(1 / 3)


def test_mean_over_patches():
    g, m = M.mean_over_patches([[0.2, 1], [0.4, 0], [1.0, 1]], ["v1", "v1", "v2"])
    assert g.tolist() == ["v1", "v2"] and np.allclose(m, [[0.3, 0.5], [1.0, 1.0]])
