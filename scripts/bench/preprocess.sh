#!/usr/bin/env bash
# Preprocessing benchmark: ours (Rust, rayon, release) against the Python reference on a
# synthetic 512x512x300 CT at 0.7x0.7x1.25 mm, in one run:
#  (a) resampling to 1.5x1.5x2.25 mm vs scipy.ndimage.zoom(order=1)   target: ratio >= 1
#  (b) 3D CLAHE of the preprocessed volume vs skimage equalize_adapthist target: ratio >= 5
#  (c) peak RSS of our full preprocessing (VmHWM, input CT included)   target: <= 1.5 GiB
# PYTHON overrides the reference interpreter (default: the pinned venv of python-env.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
py="${PYTHON:-$(bash scripts/python-env.sh)}"
cargo build --release -q -p screener-core --example bench_preprocess
bin="$root/target/release/examples/bench_preprocess"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== ours: timings (best of 3), writing arrays to $work"
"$bin" run "$work"
echo "== ours: peak RSS of preprocess() in a fresh process"
"$bin" rss | tee "$work/rss.json"

echo "== reference (numpy/scipy/skimage) on the same arrays"
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$py" - "$work" <<'PY'
import json, sys, time
import numpy as np, scipy, skimage
import scipy.ndimage as ndi
from skimage.exposure import equalize_adapthist

work = sys.argv[1]
rust = json.load(open(f"{work}/rust.json"))
rss = json.load(open(f"{work}/rss.json"))
load = lambda name, shape: np.fromfile(f"{work}/{name}", dtype="<f4").reshape(shape)

def best_of(n, f):
    best, out = float("inf"), None
    for _ in range(n):
        t = time.perf_counter(); out = f(); best = min(best, time.perf_counter() - t)
    return best, out

ct = load("ct.f32", rust["ct_shape"])
out_shape = rust["resampled_shape"]
zoom = np.array(out_shape) / np.array(ct.shape)
t_zoom, ref = best_of(3, lambda: ndi.zoom(ct, zoom, order=1, grid_mode=True, mode="nearest"))
assert list(ref.shape) == out_shape, (ref.shape, out_shape)
d_zoom = float(np.abs(ref - load("resampled.f32", out_shape)).max())

win = load("windowed.f32", rust["windowed_shape"])
t_clahe, eq = best_of(2, lambda: equalize_adapthist(win, clip_limit=0.05))
d_clahe = float(np.abs(eq - load("clahe.f32", rust["windowed_shape"])).max())

fov = load("fov_windowed.f32", out_shape)
t_clahe_fov, eq_fov = best_of(2, lambda: equalize_adapthist(fov, clip_limit=0.05))
d_clahe_fov = float(np.abs(eq_fov - load("fov_clahe.f32", out_shape)).max())

gib = rss["peak_rss_bytes"] / 2**30
rows = [
    ("(a) resample 512x512x300 -> %s" % "x".join(map(str, out_shape[::-1])),
     rust["resample_s"], t_zoom, 1.0, "max|diff| %.2e HU" % d_zoom),
    ("(b) CLAHE on %s" % "x".join(map(str, rust["windowed_shape"][::-1])),
     rust["clahe_s"], t_clahe, 5.0, "max|diff| %.2e" % d_clahe),
    ("(b) CLAHE on %s (whole FOV, no crop)" % "x".join(map(str, out_shape[::-1])),
     rust["clahe_fov_s"], t_clahe_fov, 5.0, "max|diff| %.2e" % d_clahe_fov),
]
print(f"versions: numpy {np.__version__}, scipy {scipy.__version__}, scikit-image {skimage.__version__}; "
      f"rayon threads {rust['threads']}")
print(f"{'step':48s} {'ours s':>8s} {'ref s':>8s} {'ratio':>7s} {'target':>7s}  check")
ok = True
for name, ours, theirs, target, note in rows:
    ratio = theirs / ours
    ok &= ratio >= target
    print(f"{name:48s} {ours:8.3f} {theirs:8.3f} {ratio:7.1f} {'>=%g' % target:>7s}  {note}")
print(f"(c) peak RSS of full preprocess: {gib:.2f} GiB (target <= 1.5), "
      f"of which input CT and its generation {rss['peak_rss_after_input_bytes'] / 2**30:.2f} GiB; "
      f"preprocess() took {rss['preprocess_s']:.2f} s, full pipeline best of 3 {rust['full_preprocess_s']:.2f} s")
ok &= gib <= 1.5
print("ALL TARGETS MET" if ok else "SOME TARGETS MISSED")
PY
