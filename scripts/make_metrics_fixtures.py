"""Writes the reference fixtures for core/src/metrics into core/tests/fixtures/metrics/.

Run with the pinned reference environment:
    "$(bash scripts/python-env.sh)" scripts/make_metrics_fixtures.py

auroc.json        scores with many ties, binary labels, sklearn.metrics.roc_auc_score.
dice.json         pairs of 3D masks (flattened in [k, j, i] order) and their Dice computed
                  with numpy; for two empty masks numpy gives 0/0 and the fixture records
                  the convention 1.0.
voxel_auroc.json  small images (float32 scores, lesion and body masks) and the sklearn AUROC
                  of *all* lesion voxels against all non-lesion body voxels, which the
                  sampling protocol must reproduce when it is asked for more voxels than exist.
threshold.json    the same kind of images and the best mean Dice over every unique score as
                  threshold (predict score >= t inside the body), found by brute force.
"""

import json
import pathlib

import numpy as np
import sklearn
from sklearn.metrics import roc_auc_score

OUT = pathlib.Path(__file__).resolve().parent.parent / "core" / "tests" / "fixtures" / "metrics"
rng = np.random.default_rng(20240611)


def write(name, payload):
    payload = {"generator": "scripts/make_metrics_fixtures.py",
               "numpy": np.__version__, "sklearn": sklearn.__version__, **payload}
    (OUT / name).write_text(json.dumps(payload, indent=1) + "\n")


def auroc_cases():
    cases = []
    for name, n, decimals, shift in [("coarse_ties", 60, 0, 0.7), ("fine", 500, 3, 0.3),
                                     ("heavy_ties", 400, 1, 0.1), ("inverted", 80, 1, -1.0)]:
        labels = rng.random(n) < 0.3
        scores = np.round(rng.normal(size=n) + shift * labels, decimals)
        cases.append({"name": name, "scores": scores.tolist(), "labels": labels.astype(int).tolist(),
                      "auroc": float(roc_auc_score(labels, scores))})
    labels = np.array([0, 1] * 10)
    scores = np.zeros(20)
    cases.append({"name": "all_tied", "scores": scores.tolist(), "labels": labels.tolist(),
                  "auroc": float(roc_auc_score(labels, scores))})
    return cases


def dice_np(a, b):
    a, b = a != 0, b != 0
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2.0 * np.logical_and(a, b).sum() / total)


def dice_cases():
    shape = (6, 7, 8)
    cases = []
    for name, pa, pb in [("sparse", 0.1, 0.15), ("dense", 0.6, 0.5), ("one_empty", 0.3, 0.0)]:
        a = (rng.random(shape) < pa).astype(np.uint8)
        b = (rng.random(shape) < pb).astype(np.uint8)
        cases.append({"name": name, "shape": list(shape), "a": a.ravel().tolist(),
                      "b": b.ravel().tolist(), "dice": dice_np(a, b)})
    empty = np.zeros(shape, np.uint8)
    cases.append({"name": "both_empty", "shape": list(shape), "a": empty.ravel().tolist(),
                  "b": empty.ravel().tolist(), "dice": 1.0})
    return cases


def image(shape, lesion_prob_block, separation):
    k, j, i = np.indices(shape)
    body = ((i > 1) & (j < shape[1] - 1)).astype(np.uint8)
    lesion = np.zeros(shape, np.uint8)
    if lesion_prob_block:
        block = (k >= 2) & (k < 6) & (j >= 3) & (j < 9) & (i >= 4) & (i < 10)
        lesion = (block & (rng.random(shape) < lesion_prob_block)).astype(np.uint8)
    scores = rng.normal(size=shape) + separation * lesion
    scores = (np.round(scores * 16) / 16).astype(np.float32)  # float32 with ties
    return scores, lesion, body


def to_json(scores, lesion, body):
    return {"shape": list(scores.shape), "scores": [float(x) for x in scores.ravel()],
            "lesion": lesion.ravel().tolist(), "body": body.ravel().tolist()}


def voxel_auroc_fixture():
    images = [image((8, 12, 13), 0.8, 1.0), image((9, 12, 11), 0.5, 2.0), image((7, 10, 12), 0.0, 0.0)]
    scores, labels = [], []
    for s, l, b in images:
        pos = l != 0
        neg = (l == 0) & (b != 0)
        scores += [s[pos].astype(np.float64), s[neg].astype(np.float64)]
        labels += [np.ones(pos.sum()), np.zeros(neg.sum())]
    auc = roc_auc_score(np.concatenate(labels), np.concatenate(scores))
    return {"cases": [to_json(*im) for im in images], "auroc_all_voxels": float(auc)}


def threshold_fixture():
    images = [image((8, 12, 13), 0.9, 1.5), image((9, 12, 11), 0.7, 2.5), image((7, 10, 12), 0.6, 1.0)]
    thresholds = np.unique(np.concatenate([s.ravel() for s, _, _ in images]).astype(np.float64))
    best_t, best = None, -1.0
    for t in thresholds:
        mean = np.mean([dice_np((s >= t) & (b != 0), l) for s, l, b in images])
        if mean > best:
            best_t, best = float(t), float(mean)
    return {"cases": [to_json(*im) for im in images], "best_threshold": best_t, "best_mean_dice": best}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    write("auroc.json", {"cases": auroc_cases()})
    write("dice.json", {"cases": dice_cases()})
    write("voxel_auroc.json", voxel_auroc_fixture())
    write("threshold.json", threshold_fixture())


if __name__ == "__main__":
    main()
