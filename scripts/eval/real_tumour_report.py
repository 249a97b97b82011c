"""Voxel AUROC of anomaly maps on a real tumour mask, on the original grid.

Usage: real_tumour_report.py IMAGE LABEL MAP [MAP ...]

IMAGE is the CT, LABEL its tumour mask (non-zero = tumour), each MAP an anomaly map of IMAGE
written by `screener score` (same grid). Per map: the AUROC of every tumour voxel against
every other voxel above -500 HU, and against every other voxel of the body outline (voxels
above -500 HU with each axial slice's holes filled, so the lungs count as body).
"""
import sys

import numpy as np
import SimpleITK as sitk
from scipy import ndimage
from sklearn.metrics import roc_auc_score

BODY_HU = -500.0


def array(path):
    return sitk.GetArrayFromImage(sitk.ReadImage(path))


def filled_outline(dense):
    """Axial slices (the first array axis is k) with their holes filled."""
    return np.stack([ndimage.binary_fill_holes(s) for s in dense])


def auroc(score, tumour, normal):
    y = np.r_[np.ones(tumour.sum()), np.zeros(normal.sum())]
    return roc_auc_score(y, np.r_[score[tumour], score[normal]])


def main(image, label, maps):
    ct = array(image).astype(np.float32)
    tumour = array(label) > 0
    dense = ct > BODY_HU
    outline = filled_outline(dense)
    print(f"{tumour.sum()} tumour voxels; {(dense & ~tumour).sum()} other voxels above "
          f"{BODY_HU:.0f} HU; {(outline & ~tumour).sum()} in the filled outline")
    for n, path in enumerate(maps):
        score = array(path).astype(np.float64)
        if score.shape != ct.shape:
            sys.exit(f"{path}: shape {score.shape}, the CT's is {ct.shape}")
        print(f"map{n}: AUROC {auroc(score, tumour, dense & ~tumour):.3f} against voxels above "
              f"-500 HU, {auroc(score, tumour, outline & ~tumour):.3f} against the filled "
              f"outline  ({path})")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
