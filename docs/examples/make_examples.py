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


if __name__ == "__main__":
    main()
