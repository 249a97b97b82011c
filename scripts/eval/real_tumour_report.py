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


def read(path):
    return sitk.ReadImage(path)


def array(image):
    return sitk.GetArrayFromImage(image)


def same_grid(a, b, tol=1e-3):
    """Same size, spacing, origin and direction (the map must lie on the CT's grid)."""
    return (a.GetSize() == b.GetSize()
            and np.allclose(a.GetSpacing(), b.GetSpacing(), atol=tol)
            and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=tol)
            and np.allclose(a.GetDirection(), b.GetDirection(), atol=tol))


def filled_outline(dense):
    """Axial slices (the first array axis is k) with their holes filled."""
    return np.stack([ndimage.binary_fill_holes(s) for s in dense])


def auroc(score, tumour, normal):
    y = np.r_[np.ones(tumour.sum()), np.zeros(normal.sum())]
    return roc_auc_score(y, np.r_[score[tumour], score[normal]])


def main(image, label, maps):
    ct_image = read(image)
    ct = array(ct_image).astype(np.float32)
    label_image = read(label)
    if not same_grid(ct_image, label_image):
        sys.exit(f"{label} is not on the grid of {image}")
    tumour = array(label_image) > 0
    dense = ct > BODY_HU
    outline = filled_outline(dense)
    print(f"{tumour.sum()} tumour voxels; {(dense & ~tumour).sum()} other voxels above "
          f"{BODY_HU:.0f} HU; {(outline & ~tumour).sum()} in the filled outline")
    for n, path in enumerate(maps):
        map_image = read(path)
        if not same_grid(ct_image, map_image):
            sys.exit(f"{path} is not on the grid of {image}")
        score = array(map_image).astype(np.float64)
        print(f"map{n}: AUROC {auroc(score, tumour, dense & ~tumour):.3f} against voxels above "
              f"-500 HU, {auroc(score, tumour, outline & ~tumour):.3f} against the filled "
              f"outline  ({path})")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
