#!/usr/bin/env bash
# Decode and assemble a 300-slice 512 x 512 phantom CT series, explicit VR little endian and
# JPEG lossless (process 14, SV1): ours (2 threads) vs pydicom + NumPy (+ pylibjpeg) in one run.
# Usage: scripts/bench/decode.sh [SLICES] [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/../.."
slices=${1:-300}
repeats=${2:-3}
bash scripts/install-system-deps.sh
python=$(bash scripts/python-env.sh)
cargo build --release --locked -q -p screener-core --example bench_decode
bin=target/release/examples/bench_decode

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" generate "$work/explicit" "$slices"
mkdir -p "$work/jpegls14"
for f in "$work"/explicit/*.dcm; do dcmcjpeg +e1 "$f" "$work/jpegls14/$(basename "$f")"; done

printf '%-22s %10s %10s %8s\n' "series" "ours (s)" "pydicom (s)" "ratio"
for syntax in explicit jpegls14; do
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  read -r ours ours_sum < <(RAYON_NUM_THREADS=2 "$bin" read "$work/$syntax" "$repeats")
  read -r ref ref_sum < <(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$python" scripts/bench/decode_reference.py "$work/$syntax" "$repeats")
  [ "$ours_sum" = "$ref_sum" ] || echo "WARNING: checksums differ: $ours_sum vs $ref_sum"
  ratio=$(python3 -c "print(f'{$ref/$ours:.2f}x')")
  name=$([ "$syntax" = explicit ] && echo "explicit VR LE" || echo "JPEG lossless SV1")
  printf '%-22s %10s %10s %8s\n' "$name" "$ours" "$ref" "$ratio"
done
