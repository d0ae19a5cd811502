"""Writes the example predictions files beside this script (python docs/examples/make_examples.py).

Small, seeded and made up: they show the schema (vfrepro.evaluate.schema) each study's
`vfrepro tables` reads, and the tests run them through it. Not results of any model."""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def probs(rng, truth_idx, k, skill):
    logits = rng.normal(0, 1, (len(truth_idx), k))
    logits[np.arange(len(truth_idx)), truth_idx] += skill
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return np.round(p, 6) / np.round(p, 6).sum(axis=1, keepdims=True)


def frame(rng, classes, splits, per_split, skill, extra=None):
    rows = []
    n = 0
    for split, m in zip(splits, per_split):
        y = rng.integers(0, len(classes), m)
        y[: len(classes)] = np.arange(len(classes))  # every class present
        P = probs(rng, y, len(classes), skill)
        for i in range(m):
            rows.append({"case_id": f"c{n:010x}", "level": "L1", "split": split, "truth": classes[y[i]],
                         **{f"prob_{c}": round(float(P[i, j]), 6) for j, c in enumerate(classes)}})
            n += 1
    df = pd.DataFrame(rows)
    P = df[[f"prob_{c}" for c in classes]].to_numpy()
    df[f"prob_{classes[-1]}"] = np.round(1 - P[:, :-1].sum(axis=1), 6)
    df["pred"] = np.asarray(classes)[df[[f"prob_{c}" for c in classes]].to_numpy().argmax(axis=1)]
    for k, v in (extra or {}).items():
        df[k] = v
    return df


def main():
    rng = np.random.default_rng(0)
    for arch, skill in (("resnet18", 2.0), ("vgg16", 1.6)):
        df = frame(np.random.default_rng(1), ["0", "1"], ["test"], [52], skill)
        df.to_csv(HERE / f"rosenberg_xray_{arch}_predictions.csv", index=False)
    df = frame(rng, ["acute", "chronic", "pathologic"], ["test", "external", "external", "prospective"],
               [60, 40, 40, 40], 2.0)
    df["dataset"] = ["test"] * 60 + ["external siteA"] * 40 + ["external siteB"] * 40 + ["prospective"] * 40
    df.to_csv(HERE / "xu2023_vcf_predictions.csv", index=False)
    for bb, skill in (("radimagenet", 2.0), ("imagenet", 1.5)):
        df = frame(np.random.default_rng(3), ["0", "1", "2"], ["train", "internal", "external", "prospective"],
                   [60, 30, 30, 30], skill, {"model": "SVM"})
        df = df.rename(columns={"level": "mask_label"})
        df["mask_label"] = 1
        df.to_csv(HERE / f"liu2025_dlr_{bb}_predictions.csv", index=False)
    qu2025_mil()
    wang2024_twostage()


def qu2025_mil():
    """S (axial) and Z (coronal) bag predictions of the same 48 validation vertebrae, same order;
    truth is the view's bag label (Z: A0 is AZ), ao_type the vertebra's AO type."""
    classes = ["A0", "A1", "A2", "A3", "A4", "AZ"]
    rng = np.random.default_rng(4)
    n = 48
    ao = np.asarray(classes)[np.r_[np.arange(6), rng.integers(0, 6, n - 6)]]
    for view, skill in (("S", 2.0), ("Z", 2.4)):
        truth = np.where((ao == "AZ") | ((view == "Z") & (ao == "A0")), "AZ", ao)
        y = np.array([classes.index(t) for t in truth])
        P = probs(np.random.default_rng(7 if view == "S" else 8), y, 6, skill).round(6)
        P[:, -1] = np.round(1 - P[:, :-1].sum(axis=1), 6)
        case = [f"c{i // 3:010x}" for i in range(n)]
        df = pd.DataFrame({"case_id": case, "patient": case, "mask_label": [18 + i % 3 for i in range(n)],
                           "level": [["T12", "L1", "L2"][i % 3] for i in range(n)],
                           "split": "internal", "site": "site1", "ao_type": ao, "dataset": "validation", "view": view,
                           "truth": truth, **{f"prob_{c}": P[:, j] for j, c in enumerate(classes)}})
        df["pred"] = np.asarray(classes)[P.argmax(axis=1)]
        df.to_csv(HERE / f"qu2025_mil_{view}_predictions.csv", index=False)


def wang2024_twostage():
    """The classifier's patch-level predictions (paper path): one row per (slice, vertebra), six
    0/1 truth_<label> and six sigmoid prob_<label> columns, datasets training / test /
    alternative hospital."""
    labels = ["ovcf", "of", "sn", "kd", "ps", "normal"]
    rng = np.random.default_rng(9)
    rows = []
    for split, ds, m in (("train", "training", 40), ("internal", "test", 30), ("external", "alternative hospital", 30)):
        for i in range(m):
            t = np.zeros(6, int)
            k = i % 6 if i < 12 else int(rng.integers(0, 6))
            t[k] = 1
            if k == 0 and rng.random() < 0.2:
                t[3] = 1  # OVCF with kyphosis: multi-label
            score = np.clip(0.15 + 0.6 * t + rng.normal(0, 0.2, 6), 0, 1).round(6)
            case = f"c{split[:1]}{i // 5:09x}"
            rows.append({"case_id": case, "level": ["T12", "L1", "L2", "L3", "L4"][i % 5],
                         "slice_id": f"{case}_x{i % 2:03d}", "split": split, "dataset": ds,
                         "box_source": "annotated" if k != 5 else "detected", "path": "paper",
                         **{f"truth_{c}": int(t[j]) for j, c in enumerate(labels)},
                         **{f"prob_{c}": float(score[j]) for j, c in enumerate(labels)}})
    pd.DataFrame(rows).to_csv(HERE / "wang2024_twostage_predictions.csv", index=False)


if __name__ == "__main__":
    main()
