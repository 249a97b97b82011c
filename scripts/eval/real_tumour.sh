#!/usr/bin/env bash
# Voxel AUROC of bundles on a real tumour: scores ../shared/data/ct/pyradiomics-lung1 (a chest
# CT with a lung tumour mask, never trained on) with `screener score` and every BUNDLE, then
# prints per bundle the AUROC of the tumour's voxels against all other voxels above -500 HU,
# and against all other voxels of the filled body outline (lungs included), on the original
# grid (scripts/eval/real_tumour_report.py).
# Usage: scripts/eval/real_tumour.sh [THREADS] BUNDLE [BUNDLE ...]
# SCREENER=path uses that binary instead of a release build.
set -euo pipefail
usage="usage: $0 [THREADS] BUNDLE [BUNDLE ...]"
threads=2
if [[ ${1:-} =~ ^[0-9]+$ ]]; then threads=$1; shift; fi
[[ $threads =~ ^[1-9][0-9]*$ && $# -ge 1 ]] || { echo "$usage" >&2; exit 2; }
bundles=()
for bundle in "$@"; do bundles+=("$(realpath "$bundle")"); done
[ -z "${SCREENER:-}" ] || SCREENER=$(realpath "$SCREENER")
cd "$(dirname "$0")/../.."
data=../shared/data/ct/pyradiomics-lung1
bash scripts/fetch-onnxruntime.sh >/dev/null
python=$(bash scripts/python-env.sh)
if [ -z "${SCREENER:-}" ]; then
  cargo build --release --locked -q -p screener-daemon --bin screener
  SCREENER=target/release/screener
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
maps=()
i=0
for bundle in "${bundles[@]}"; do
  echo "map$i: $bundle"
  "$SCREENER" score "$data/lung1_image.nrrd" --model "$bundle" --out "$work/map$i" \
    --threads "$threads" >/dev/null
  maps+=("$work/map$i/anomaly_map.nii.gz")
  i=$((i + 1))
done
"$python" scripts/eval/real_tumour_report.py "$data/lung1_image.nrrd" "$data/lung1_label.nrrd" \
  "${maps[@]}"
