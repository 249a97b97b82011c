"""Reference pipeline for the `screener score` benchmark, in Python: the same steps on the same
model bundle, with the usual libraries (pydicom, scikit-image CLAHE, SciPy resampling,
onnxruntime, NumPy blending). Prints JSON with the study score, the stage timings and peak RSS.

Usage: python score_reference.py SERIES_DIR BUNDLE_DIR THREADS OUT.nii.gz
"""
import json
import resource
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import onnxruntime as ort
import pydicom
from scipy import ndimage
from skimage.exposure import equalize_adapthist


def read_series(folder):
    ds = [pydicom.dcmread(p) for p in sorted(Path(folder).iterdir()) if p.is_file()]
    iop = np.array(ds[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    ds.sort(key=lambda d: float(np.dot(normal, np.array(d.ImagePositionPatient, dtype=float))))
    vol = np.empty((len(ds), ds[0].Rows, ds[0].Columns), dtype=np.float32)
    for k, d in enumerate(ds):
        vol[k] = d.pixel_array.astype(np.float32) * float(d.RescaleSlope) + float(d.RescaleIntercept)
    positions = [float(np.dot(normal, np.array(d.ImagePositionPatient, dtype=float))) for d in ds]
    dz = float(np.median(np.diff(positions)))
    ps = [float(x) for x in ds[0].PixelSpacing]
    return vol, np.array([ps[1], ps[0], dz])  # spacing (i, j, k)


def body_crop(vol, spacing_ijk, threshold, block_mm, fraction):
    """Bounding box of 5 mm blocks that are mostly above the threshold (as core's crop)."""
    bs = [max(int(round(block_mm / s)), 1) for s in spacing_ijk[::-1]]  # (k, j, i)
    shape = vol.shape
    nb = [-(-shape[a] // bs[a]) for a in range(3)]
    padded = np.zeros([nb[a] * bs[a] for a in range(3)], dtype=np.uint32)
    padded[: shape[0], : shape[1], : shape[2]] = vol > threshold
    counts = padded.reshape(nb[0], bs[0], nb[1], bs[1], nb[2], bs[2]).sum(axis=(1, 3, 5))
    ext = [np.minimum((np.arange(nb[a]) + 1) * bs[a], shape[a]) - np.arange(nb[a]) * bs[a] for a in range(3)]
    voxels = ext[0][:, None, None] * ext[1][None, :, None] * ext[2][None, None, :]
    body = (counts >= fraction * voxels) & (counts > 0)
    if not body.any():
        return tuple(slice(0, s) for s in shape)
    idx = np.argwhere(body)
    lo, hi = idx.min(axis=0), idx.max(axis=0)
    return tuple(slice(lo[a] * bs[a], min((hi[a] + 1) * bs[a], shape[a])) for a in range(3))


def axis_starts(n, p, overlap):
    """Evenly spread patch starts with at least `overlap` shared (as core's PatchGrid)."""
    if n <= p:
        return [0]
    step = p * (1.0 - overlap)
    count = int(np.ceil((n - p) / step)) + 1
    return [int(round(x)) for x in np.linspace(0, n - p, count)]


def gaussian_window(shape):
    axes = []
    for n in shape:
        c, s = (n - 1) / 2.0, n / 8.0
        g = np.exp(-0.5 * ((np.arange(n) - c) / s) ** 2)
        axes.append(g / g.max())
    w = axes[0][:, None, None] * axes[1][None, :, None] * axes[2][None, None, :]
    return np.maximum(w, 1e-6).astype(np.float32)


def main():
    series, bundle, threads, out = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    m = json.loads((bundle / "manifest.json").read_text())
    pp, patch = m["preprocessing"], m["patch"]
    t = {}
    t0 = time.perf_counter()
    vol, spacing = read_series(series)
    t["read_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    nets = {role: ort.InferenceSession(str(bundle / n["file"]), opts, providers=["CPUExecutionProvider"])
            for role, n in m["networks"].items()}
    t["load_model_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    box = body_crop(vol, spacing, pp["body_threshold_hu"], pp["body_block_mm"], pp["body_block_fraction"])
    cropped = vol[box]
    target = np.array(pp["target_spacing"])[::-1]  # (k, j, i)
    new_shape = [max(int(round(cropped.shape[a] * spacing[::-1][a] / target[a])), 1) for a in range(3)]
    zoom = [new_shape[a] / cropped.shape[a] for a in range(3)]
    pre = ndimage.zoom(cropped, zoom, order=1, grid_mode=True, mode="nearest")
    lo, hi = pp["clip_hu"]
    pre = ((np.clip(pre, lo, hi) - lo) / (hi - lo)).astype(np.float32)
    pre = equalize_adapthist(pre, clip_limit=pp["clahe_clip_limit"], nbins=pp["clahe_nbins"]).astype(np.float32)
    t["preprocess_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    p = patch["size"][::-1]  # (k, j, i)
    f = patch["pooling"][::-1] if m["kind"] == "modular" else [1, 1, 1]
    cells = [-(-pre.shape[a] // f[a]) for a in range(3)]
    starts = [[s * f[a] for s in axis_starts(cells[a], p[a] // f[a], patch["overlap"])] for a in range(3)]
    op = [p[a] // f[a] for a in range(3)]
    window = gaussian_window(op) if patch["blending"] == "gaussian" else np.ones(op, np.float32)
    acc = np.zeros(cells, np.float32)
    wsum = np.zeros(cells, np.float32)
    padded = np.full([max(cells[a] * f[a], starts[a][-1] + p[a]) for a in range(3)], patch["pad_value"], np.float32)
    padded[: pre.shape[0], : pre.shape[1], : pre.shape[2]] = pre
    batch = []

    def flush():
        x = np.stack([padded[k:k + p[0], j:j + p[1], i:i + p[2]] for (k, j, i) in batch])[:, None]
        if m["kind"] == "modular":
            y = nets["descriptor"].run(None, {m["networks"]["descriptor"]["inputs"][0]["name"]: x})[0]
            c = nets["condition"].run(None, {m["networks"]["condition"]["inputs"][0]["name"]: x})[0]

            def pool(a):
                b, ch = a.shape[:2]
                return a.reshape(b, ch, op[0], f[0], op[1], f[1], op[2], f[2]).mean(axis=(3, 5, 7))

            names = [t_["name"] for t_ in m["networks"]["density"]["inputs"]]
            nll = nets["density"].run(None, {names[0]: pool(y), names[1]: pool(c)})[0]
        else:
            nll = nets["distilled"].run(None, {m["networks"]["distilled"]["inputs"][0]["name"]: x})[0]
        for (k, j, i), out_patch in zip(batch, nll[:, 0]):
            ck, cj, ci = k // f[0], j // f[1], i // f[2]
            sl = (slice(ck, ck + op[0]), slice(cj, cj + op[1]), slice(ci, ci + op[2]))
            region = acc[sl].shape
            acc[sl] += (out_patch * window)[: region[0], : region[1], : region[2]]
            wsum[sl] += window[: region[0], : region[1], : region[2]]
        batch.clear()

    for k in starts[0]:
        for j in starts[1]:
            for i in starts[2]:
                batch.append((k, j, i))
                if len(batch) == 2:
                    flush()
    if batch:
        flush()
    pooled = acc / wsum
    t["inference_and_blend_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    up = ndimage.zoom(pooled, f, order=1, grid_mode=True, mode="nearest")[: pre.shape[0], : pre.shape[1], : pre.shape[2]]
    crop_shape = cropped.shape
    back = ndimage.zoom(up, [crop_shape[a] / up.shape[a] for a in range(3)], order=1, grid_mode=True, mode="nearest")
    full = np.full(vol.shape, back.min(), np.float32)
    full[box] = back[: crop_shape[0], : crop_shape[1], : crop_shape[2]]
    t["reproject_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    # The study score as the engine defines it (daemon/src/engine/study_score.rs): the 3x3x3
    # mean of the pooled map (over the neighbours that exist at the edges), maximised over the
    # pooled voxels whose centre falls on a body voxel (> -500 HU) of the original CT.
    ones = np.ones_like(pooled)
    smoothed = ndimage.uniform_filter(pooled, 3, mode="constant") / ndimage.uniform_filter(ones, 3, mode="constant")
    centres = [(np.arange(cells[a]) * f[a] + (f[a] - 1) / 2 + 0.5) / zoom[a] - 0.5 + box[a].start for a in range(3)]
    index = [np.floor(c + 0.5).astype(int) for c in centres]
    inside = [(ix >= 0) & (ix < vol.shape[a]) for a, ix in enumerate(index)]
    hu = vol[np.ix_(*[np.clip(ix, 0, vol.shape[a] - 1) for a, ix in enumerate(index)])]
    body = inside[0][:, None, None] & inside[1][None, :, None] & inside[2][None, None, :] & (hu > -500)
    score = float(smoothed[body].max() if body.any() else smoothed.max())
    nib.save(nib.Nifti1Image(np.ascontiguousarray(full.transpose(2, 1, 0)), np.diag(list(spacing) + [1.0])), out)
    t["score_and_write_s"] = time.perf_counter() - t0
    t["total_s"] = sum(t.values())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"study_score": score, "timings": t, "peak_rss_mib": rss}))


if __name__ == "__main__":
    main()
