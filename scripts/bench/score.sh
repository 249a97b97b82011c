#!/usr/bin/env bash
# End-to-end `screener score` on a 512 x 512 x SLICES phantom CT (DICOM, explicit VR LE) with a
# bundle on the CPU, against the Python reference pipeline (pydicom, scikit-image CLAHE, SciPy
# resampling, onnxruntime, NumPy blending; same steps, same bundle, same threads), in one run.
# Prints wall time, peak RSS and the per-stage breakdown of both.
# Usage: scripts/bench/score.sh [SLICES] [THREADS] [BUNDLE]
set -euo pipefail
cd "$(dirname "$0")/../.."
slices=${1:-300}
threads=${2:-2}
bundle=${3:-models/default}
bash scripts/fetch-onnxruntime.sh
python=$(bash scripts/python-env-ort.sh)
cargo build --release --locked -q -p screener-daemon --bin screener
cargo build --release --locked -q -p screener-core --example bench_decode
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
target/release/examples/bench_decode generate "$work/ct" "$slices"

/usr/bin/time -f "%e %M" -o "$work/ours.time" \
  target/release/screener score "$work/ct" --model "$bundle" --out "$work/ours" --threads "$threads" > /dev/null
/usr/bin/time -f "%e %M" -o "$work/ref.time" \
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS="$threads" \
  "$python" scripts/bench/score_reference.py "$work/ct" "$bundle" "$threads" "$work/ref.nii.gz" > "$work/ref.json"

python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
ours = json.load(open(f"{w}/ours/summary.json"))
ref = json.load(open(f"{w}/ref.json"))
ow, orss = map(float, open(f"{w}/ours.time").read().split())
rw, rrss = map(float, open(f"{w}/ref.time").read().split())
print(f"{'':24}{'ours':>12}{'python':>12}")
print(f"{'wall time (s)':24}{ow:12.2f}{rw:12.2f}   ratio python/ours {rw/ow:.2f}x")
print(f"{'peak RSS (MiB)':24}{orss/1024:12.0f}{rrss/1024:12.0f}")
print(f"{'study score':24}{ours['study_score']:12.4f}{ref['study_score']:12.4f}")
print(f"{'patches':24}{ours['patches']:12d}")
print("ours, per stage (s):   " + ", ".join(f"{k} {v:.2f}" for k, v in ours["timings"].items()))
print("python, per stage (s): " + ", ".join(f"{k} {v:.2f}" for k, v in ref["timings"].items()))
PY
