#!/usr/bin/env bash
# Network forward: our engine vs Python onnxruntime on the same ONNX files, the same inputs and
# the same thread count, in one run. Prints seconds per call and the ratio ours / reference.
# Usage: scripts/bench/forward.sh [BUNDLE] [THREADS] [BATCH] [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/../.."
bundle=${1:-models/default}
threads=${2:-2}
batch=${3:-1}
repeats=${4:-5}
bash scripts/fetch-onnxruntime.sh
python=$(bash scripts/python-env-ort.sh)
cargo build --release --locked -q -p screener-daemon --example bench_forward
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

target/release/examples/bench_forward "$bundle" "$threads" "$batch" "$repeats" "$work" > "$work/ours.txt"
"$python" scripts/bench/forward_reference.py "$bundle" "$threads" "$repeats" "$work" > "$work/ref.txt"
printf '%-12s %12s %12s %8s  %s\n' network "ours (s)" "python (s)" ratio "checksums"
join <(sort "$work/ours.txt") <(sort "$work/ref.txt") | while read -r role ours ocs ref rcs; do
  ratio=$(python3 -c "print(f'{$ours/$ref:.3f}')")
  printf '%-12s %12s %12s %8s  %s / %s\n' "$role" "$ours" "$ref" "$ratio" "$ocs" "$rcs"
done
