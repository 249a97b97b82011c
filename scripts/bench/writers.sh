#!/usr/bin/env bash
# Writing the derived objects of a 300-slice 512 x 512 phantom CT series with a 30 mm radius
# lesion: our BINARY SEG and overlay series (2 threads) vs highdicom writing the same SEG from
# the same mask, in one run. Prints the fastest of REPEATS wall times and the ratios.
# Usage: scripts/bench/writers.sh [SLICES] [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/../.."
slices=${1:-300}
repeats=${2:-3}
bash scripts/install-system-deps.sh
python=$(bash scripts/python-env.sh)
cargo build --release --locked -q -p screener-daemon --example bench_writers
bin=target/release/examples/bench_writers

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" generate "$work/ct" "$slices"
read -r seg overlay < <(RAYON_NUM_THREADS=2 "$bin" write "$work/ct" "$work/out" "$repeats")
read -r ref ref_frames < <("$python" scripts/bench/writers_reference.py "$work/ct" "$work/out" "$repeats")
ours_frames=$(dcmdump +P NumberOfFrames "$work/out/seg.dcm" | sed 's/.*\[\([0-9]*\)\].*/\1/')
[ "$ours_frames" = "$ref_frames" ] || echo "WARNING: SEG frames differ: ours $ours_frames, highdicom $ref_frames"

ratio() { python3 -c "print(f'{$1/$2:.1f}x')"; }
printf '%s slices, 512 x 512, SEG of %s frames\n' "$slices" "$ref_frames"
printf '%-34s %10s\n' "step" "seconds"
printf '%-34s %10s\n' "ours: BINARY SEG" "$seg"
printf '%-34s %10s\n' "ours: overlay ($slices RGB images)" "$overlay"
printf '%-34s %10s\n' "highdicom: BINARY SEG" "$ref"
printf 'SEG: highdicom / ours = %s; highdicom SEG / (ours SEG + overlay) = %s\n' \
  "$(ratio "$ref" "$seg")" "$(ratio "$ref" "$(python3 -c "print($seg+$overlay)")")"
