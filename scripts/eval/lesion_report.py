"""Where a bundle's anomaly maps find the lesions of `lesion_phantoms` cases, and where not.

Usage: lesion_report.py CASES NAME [NAME ...]

CASES holds caseNNN/ folders (daemon example `lesion_phantoms`); NAME is the subfolder of
each case that `screener score --out` wrote. For each NAME, on the original grid: the voxel
AUROC of the paper's protocol (up to 1000 lesion and 1000 other body voxels sampled per case,
pooled), the AUROC of each lesion kind (its voxels against the body samples of the cases it
occurs in), and per organ the mean score of its lesion-free voxels and the share of them
above the 99th percentile of their case's lesion-free body voxels: the tissues that outrank
lesions.
"""
import glob
import json
import sys
from collections import defaultdict

import nibabel as nib
import numpy as np
from sklearn.metrics import roc_auc_score

ORGANS = {1: "soft tissue", 2: "lung", 3: "airway", 4: "heart", 5: "aorta", 6: "liver",
          7: "spleen", 8: "kidney", 9: "bone", 10: "spinal canal", 12: "stomach", 13: "bowel",
          14: "vessel", 15: "gallbladder"}
SAMPLES = 1000


def load(path):
    return np.asarray(nib.load(path).dataobj)


def report(cases, name):
    rng = np.random.default_rng(0)
    pooled_y, pooled_s = [], []
    # (kind, case) -> [lesion voxel scores, the case's body samples]
    per_kind = defaultdict(lambda: [[], None])
    per_organ = defaultdict(lambda: [0, 0, 0.0])
    per_case = []
    for case in cases:
        score = load(f"{case}/{name}/anomaly_map.nii.gz").astype(np.float64)
        labels = load(f"{case}/lesions.nii.gz").astype(int)
        body = load(f"{case}/body.nii.gz") > 0
        organs = load(f"{case}/organs.nii.gz").astype(int)
        with open(f"{case}/lesions.json") as f:
            lesions = json.load(f)
        normal = body & (labels == 0)
        normal_idx = np.flatnonzero(normal)
        lesion_idx = np.flatnonzero(labels > 0)
        if lesion_idx.size == 0:
            continue
        ns = rng.choice(normal_idx, min(SAMPLES, normal_idx.size), replace=False)
        ls = rng.choice(lesion_idx, min(SAMPLES, lesion_idx.size), replace=False)
        y = np.r_[np.ones(ls.size), np.zeros(ns.size)]
        s = np.r_[score.flat[ls], score.flat[ns]]
        pooled_y.append(y)
        pooled_s.append(s)
        per_case.append(roc_auc_score(y, s))
        for n, lesion in enumerate(lesions, start=1):
            voxels = score[labels == n]
            if voxels.size:
                entry = per_kind[(lesion["kind"], case)]
                entry[0].append(voxels)
                entry[1] = score.flat[ns]
        top = np.quantile(score[normal], 0.99)
        for organ in np.unique(organs[normal]):
            sel = normal & (organs == organ)
            entry = per_organ[int(organ)]
            entry[0] += int(sel.sum())
            entry[1] += int((score[sel] > top).sum())
            entry[2] += float(score[sel].sum())
    if not per_case:
        sys.exit(f"{name}: no case has lesion voxels")
    auroc = roc_auc_score(np.concatenate(pooled_y), np.concatenate(pooled_s))
    print(f"== {name}: pooled voxel AUROC {auroc:.3f} over {len(per_case)} cases "
          f"(per case {', '.join(f'{a:.3f}' for a in per_case)})")
    print("   lesion kind: lesions, voxels, AUROC against body voxels")
    for kind in sorted({k for k, _ in per_kind}):
        parts = [v for (k, _), v in per_kind.items() if k == kind]
        pos = np.concatenate([p for lesions, _ in parts for p in lesions])
        neg = np.concatenate([q for _, q in parts])
        count = sum(len(lesions) for lesions, _ in parts)
        a = roc_auc_score(np.r_[np.ones(pos.size), np.zeros(neg.size)], np.r_[pos, neg])
        print(f"   {kind:24} {count:3d} {pos.size:7d} {a:.3f}")
    print("   organ: lesion-free voxels, mean score, share above their case's 99th percentile")
    for organ, (count, above, total) in sorted(per_organ.items()):
        print(f"   {ORGANS.get(organ, organ):13} {count:9d} {total / count:9.2f} {above / count:8.4f}")


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cases = sorted(glob.glob(f"{sys.argv[1]}/case*"))
    for name in sys.argv[2:]:
        report(cases, name)


if __name__ == "__main__":
    main()
