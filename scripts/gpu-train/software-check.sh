#!/usr/bin/env bash
# Runs the trainer's Vulkan path on this machine's CPU through SwiftShader (the software Vulkan
# driver in Debian's chromium package), before device time is spent on it: `check-device`
# (every op against the CPU), then every stage of config/train-ci.toml for a few steps, and
# with GPU_SIZES=1 one step of each training stage at the sizes of scripts/gpu-train/run.sh.
# The stages show that the kernels compile and run and the buffers fit; their numbers do not
# count, because SwiftShader computes burn's matmul wrongly (check-device reports it; the
# trained output collapses). Mesa's lavapipe crashes in vkCreateComputePipelines instead.
# Usage: scripts/gpu-train/software-check.sh [BIN] (default: a debug build with --features vulkan)
set -euo pipefail
BIN=${1:+$(realpath "$1")}
cd "$(dirname "$0")/../.."

if [ -z "$BIN" ]; then
    cargo build --locked -p screener-trainer --features vulkan --bin screener-train
    BIN=target/debug/screener-train
fi
SWIFTSHADER=/usr/lib/chromium
[ -f "$SWIFTSHADER/vk_swiftshader_icd.json" ] || bash scripts/install-system-deps.sh
export LD_LIBRARY_PATH=$SWIFTSHADER${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export VK_DRIVER_FILES=$SWIFTSHADER/vk_swiftshader_icd.json VK_ICD_FILENAMES=$SWIFTSHADER/vk_swiftshader_icd.json
export BURN_DEVICE=${BURN_DEVICE:-vulkan}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
step() {
    echo "== $*" >&2
    local started=$SECONDS
    "$BIN" "$@" 2>&1 | grep -v UNREACHABLE | tail -2
    echo "   $((SECONDS - started)) s" >&2
}
# prepare, the three training stages (each logging finite losses) and evaluate, with "$@"
# (which starts with --run DIR).
stages() {
    local run=$2
    step prepare "$@"
    for stage in descriptor condition density; do
        step "train-$stage" "$@"
        finite_losses "$run/$stage/metrics.jsonl"
    done
    step evaluate "$@"
}
# Every loss a stage logged must be a finite number.
finite_losses() {
    python3 - "$1" <<'PY'
import json, math, sys
losses = [json.loads(line).get("loss") for line in open(sys.argv[1])]
losses = [x for x in losses if x is not None]
assert losses and all(isinstance(x, (int, float)) and math.isfinite(x) for x in losses), losses
print(f"   {len(losses)} finite losses, first {losses[0]:.4g}, last {losses[-1]:.4g}")
PY
}

echo "## check-device (SwiftShader's matmul is expected to disagree)"
"$BIN" check-device 2>&1 | grep -v UNREACHABLE || true

echo "## tiny: every stage of config/train-ci.toml"
# SwiftShader's wrong matmul zeroes the SSL gradients, which stops training by default.
CI_RUN=(--run "$work/tiny" --config config/train-ci.toml --set run.zero_gradient_steps=0)
stages "${CI_RUN[@]}"
step distil "${CI_RUN[@]}"
finite_losses "$work/tiny/distil/metrics.jsonl"

[ "${GPU_SIZES:-0}" = 1 ] || { echo "software-check: every stage ran on Vulkan"; exit 0; }
echo "## GPU sizes: one step of each training stage (run.sh's batches, default networks)"
GPU_RUN=(--run "$work/gpu" --config config/train-default.toml --set run.zero_gradient_steps=0
    --set "data.roots=[]" --set "data.labelled=[]" --set data.phantoms.count=2
    --set data.eval_phantoms.count=1
    --set ssl.descriptor_training.batch_size=8 --set ssl.condition_training.batch_size=8
    --set ssl.augment.positives_per_pair=512 --set "ssl.objective.expander_dims=[1024, 1024, 1024]"
    --set density.training.batch_size=4 --set evaluate.batch=4
    --set ssl.descriptor_training.steps=1 --set ssl.condition_training.steps=1
    --set density.training.steps=1)
stages "${GPU_RUN[@]}"
echo "software-check: every stage ran on Vulkan, also at the GPU run's sizes"
