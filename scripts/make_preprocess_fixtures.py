#!/usr/bin/env python3
"""Reference fixtures for core/src/preprocess (resampling and CLAHE).

Builds small seeded CT-like volumes, runs scipy.ndimage.zoom(order=1, grid_mode=True,
mode='nearest') and skimage.exposure.equalize_adapthist on them, and writes raw little-endian
float32 arrays (C order, numpy shape [k, j, i]) plus index.json into
core/tests/fixtures/preprocess/. Run with the pinned reference venv:

    "$(bash scripts/python-env.sh)" scripts/make_preprocess_fixtures.py
"""
import json
import pathlib

import numpy as np
import scipy
import scipy.ndimage as ndi
import skimage
from skimage.exposure import equalize_adapthist

OUT = pathlib.Path(__file__).resolve().parent.parent / "core/tests/fixtures/preprocess"


def ct_like(shape, seed):
    """Air around an elliptic body with fat, soft tissue, two lungs, a spine and a table."""
    rng = np.random.default_rng(seed)
    nk, nj, ni = shape
    k, j, i = np.meshgrid(
        np.linspace(-1, 1, nk), np.linspace(-1, 1, nj), np.linspace(-1, 1, ni), indexing="ij"
    )
    ct = np.full(shape, -1000.0)
    body = (i / 0.8) ** 2 + (j / 0.65) ** 2 <= 1.0
    ct[body] = -90.0
    ct[(i / 0.72) ** 2 + (j / 0.57) ** 2 <= 1.0] = 45.0
    for cx in (-0.35, 0.35):
        ct[((i - cx) / 0.28) ** 2 + ((j + 0.05) / 0.38) ** 2 + (k / 1.3) ** 2 <= 1.0] = -850.0
    ct[(i / 0.12) ** 2 + ((j - 0.42) / 0.12) ** 2 <= 1.0] = 700.0
    ct[(j > 0.78) & (j < 0.84)] = 150.0
    ct += rng.normal(0.0, 25.0, shape) * (ct > -950)
    ct += rng.normal(0.0, 5.0, shape)
    return ct.astype(np.float32)


def window(ct):
    return ((np.clip(ct, -1000.0, 300.0) + 1000.0) / 1300.0).astype(np.float32)


def save(name, a):
    a = np.ascontiguousarray(a, dtype="<f4")
    (OUT / name).write_bytes(a.tobytes())
    return {"file": name, "shape": list(a.shape)}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    cases = []
    ct = ct_like((24, 40, 48), seed=7)
    ct_entry = save("ct_24x40x48.f32", ct)

    # Spacing (i, j, k) 0.8 x 0.8 x 1.25 mm -> 1.5 x 1.5 x 2.25 mm, and an anisotropic upsampling.
    for name, zoom in [
        ("zoom_down", (1.25 / 2.25, 0.8 / 1.5, 0.8 / 1.5)),
        ("zoom_up", (1.5, 0.6, 1.3)),
    ]:
        out = ndi.zoom(ct, zoom, order=1, grid_mode=True, mode="nearest")
        cases.append(
            {"name": name, "kind": "zoom", "input": ct_entry, "zoom": list(zoom),
             "output": save(f"{name}.f32", out)}
        )

    small = window(ct)
    small_entry = save("windowed_24x40x48.f32", small)
    big = window(ct_like((32, 44, 52), seed=11))
    big_entry = save("windowed_32x44x52.f32", big)
    for name, inp, entry, kernel, clip in [
        ("clahe_default_kernel", small, small_entry, None, 0.05),
        ("clahe_explicit_kernel", small, small_entry, (5, 7, 9), 0.05),
        ("clahe_larger_volume", big, big_entry, None, 0.05),
    ]:
        out = equalize_adapthist(inp, kernel_size=kernel, clip_limit=clip, nbins=256)
        cases.append(
            {"name": name, "kind": "clahe", "input": entry, "clip_limit": clip, "nbins": 256,
             "kernel_size": list(kernel) if kernel else None,
             "output": save(f"{name}.f32", out.astype(np.float32))}
        )

    index = {
        "about": "Arrays are raw little-endian float32 in C order; shapes and kernel_size are "
                 "numpy order [k, j, i]. Made by scripts/make_preprocess_fixtures.py.",
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__,
                     "scikit-image": skimage.__version__},
        "cases": cases,
    }
    (OUT / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(cases)} cases to {OUT} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
