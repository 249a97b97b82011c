#!/usr/bin/env bash
# Judges bundles on phantoms with inserted lesions, on the original grid, through the node's
# own engine: writes the trainer's evaluation phantoms (same seeds and generator) as NIfTI,
# scores each with `screener score` and every BUNDLE, then prints per bundle the pooled voxel
# AUROC, the AUROC of each lesion kind and the tissues whose normal voxels outrank lesions
# (scripts/eval/lesion_report.py).
# Usage: scripts/eval/lesion_phantoms.sh [COUNT] [THREADS] BUNDLE [BUNDLE ...]
# The phantoms are those of config/train-default.toml's [data.eval_phantoms] (seeds 30000..,
# 160 x 160 x 64 at 2 x 2 x 3 mm, 2 lesions). SCREENER=path uses that binary instead of a
# release build; KEEP=dir keeps the cases and maps there.
set -euo pipefail
usage="usage: $0 [COUNT] [THREADS] BUNDLE [BUNDLE ...]"
count=${1:-6}
threads=${2:-2}
[[ $count =~ ^[1-9][0-9]*$ && $threads =~ ^[1-9][0-9]*$ ]] || { echo "$usage" >&2; exit 2; }
shift $(($# < 2 ? $# : 2))
# Paths from the caller's folder, before moving to the repository root.
bundles=()
for bundle in "$@"; do bundles+=("$(realpath "$bundle")"); done
[ -z "${SCREENER:-}" ] || SCREENER=$(realpath "$SCREENER")
[ -z "${KEEP:-}" ] || KEEP=$(realpath -m "$KEEP")
cd "$(dirname "$0")/../.."
[ ${#bundles[@]} -ge 1 ] || bundles=("$PWD/models/default")
if [ -n "${KEEP:-}" ] && [ -n "$(ls -A "$KEEP" 2>/dev/null)" ]; then
  echo "KEEP=$KEEP is not empty: give an empty or new folder" >&2
  exit 2
fi
bash scripts/fetch-onnxruntime.sh >/dev/null
python=$(bash scripts/python-env.sh)
if [ -z "${SCREENER:-}" ]; then
  cargo build --release --locked -q -p screener-daemon --bin screener
  SCREENER=target/release/screener
fi
cargo build --locked -q -p screener-daemon --example lesion_phantoms
work=${KEEP:-$(mktemp -d)}
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work"
target/debug/examples/lesion_phantoms "$work" 30000 "$count" 160 160 64 2.0 2.0 3.0 2 >/dev/null
names=()
i=0
for bundle in "${bundles[@]}"; do
  name="map$i"
  names+=("$name")
  echo "$name: $bundle"
  for case in "$work"/case*; do
    "$SCREENER" score "$case/ct.nii.gz" --model "$bundle" --out "$case/$name" --threads "$threads" >/dev/null
  done
  i=$((i + 1))
done
"$python" scripts/eval/lesion_report.py "$work" "${names[@]}"
