#!/usr/bin/env bash
# Reproduces the default model (docs/training.md, "The default model"): from the permissively
# licensed CT series in ../shared/data/ct plus generated phantoms (config/train-default.toml),
# prepare the cache, train the descriptor, condition and density models, export a bundle,
# calibrate it on held-out normal phantoms and evaluate it with the paper's protocol (voxel
# AUROC on held-out lesion phantoms and on pyradiomics-lung1's tumour), next to the same
# evaluation of the untrained stand-in (`screener-export untrained`).
#
# Environment (the defaults are the default model; small numbers give a quick run):
#   RUN=runs/default             run folder; the bundle is written to $RUN/bundle
#   DESCRIPTOR_STEPS=2000 CONDITION_STEPS=2000 DENSITY_STEPS=1000
#   TRAIN_PHANTOMS=24            lesion-free training phantoms (seeds 10000..)
#   EVAL_PHANTOMS=8              held-out phantoms with lesions (seeds 30000..)
#   CALIBRATION_PHANTOMS=8       held-out normal phantoms for the threshold (seeds 1000..)
#   CALIBRATION_PHANTOM_SIZE=256x256x48
#   BASELINE=1                   also evaluate the untrained stand-in's weights (0: skip)
#   ABLATE=0                     1: also run the condition x density ablation table
#   NAME=screener-default VERSION=0.2.0
#   DENSITY_SCORE=excess_nll     what the bundle's density reports (nll: METHOD.md's NLL)
#   PROFILE=release              cargo profile the binaries are built with
#   EXTRA_SET="k=v ..."          more `--set` overrides for every screener-train call
#
# Training stages resume from their newest checkpoints, so calling the script again with the
# same RUN carries on where it stopped (and skips finished stages). Use a new RUN to start
# over, e.g. after changing the data. Results: $RUN/summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

RUN=${RUN:-runs/default}
DESCRIPTOR_STEPS=${DESCRIPTOR_STEPS:-2000}
CONDITION_STEPS=${CONDITION_STEPS:-2000}
DENSITY_STEPS=${DENSITY_STEPS:-1000}
TRAIN_PHANTOMS=${TRAIN_PHANTOMS:-24}
EVAL_PHANTOMS=${EVAL_PHANTOMS:-8}
CALIBRATION_PHANTOMS=${CALIBRATION_PHANTOMS:-8}
CALIBRATION_PHANTOM_SIZE=${CALIBRATION_PHANTOM_SIZE:-256x256x48}
BASELINE=${BASELINE:-1}
ABLATE=${ABLATE:-0}
NAME=${NAME:-screener-default}
VERSION=${VERSION:-0.2.0}
DENSITY_SCORE=${DENSITY_SCORE:-excess_nll}
PROFILE=${PROFILE:-release}
CONFIG=config/train-default.toml

bash scripts/install-system-deps.sh
bash scripts/fetch-onnxruntime.sh
# One package per call: built together, their dependencies' features would be unified
# differently from the usual one-package builds, and burn would be rebuilt.
for package in screener-trainer screener-export screener-daemon; do
    cargo build --locked --profile "$PROFILE" -p "$package" --bins
done
BIN=target/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")

SET=(
    --set "ssl.descriptor_training.steps=$DESCRIPTOR_STEPS"
    --set "ssl.condition_training.steps=$CONDITION_STEPS"
    --set "density.training.steps=$DENSITY_STEPS"
    --set "data.phantoms.count=$TRAIN_PHANTOMS"
    --set "data.eval_phantoms.count=$EVAL_PHANTOMS"
)
for kv in ${EXTRA_SET:-}; do SET+=(--set "$kv"); done

mkdir -p "$RUN"
SUMMARY=$RUN/summary.txt
: >"$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }

# Runs "$@" and notes its wall time under the name $1.
timed() {
    local name=$1 start=$SECONDS
    shift
    "$@"
    note "$name: $((SECONDS - start)) s"
}

train() { "$BIN/screener-train" "$1" --config "$CONFIG" --run "$RUN" "${SET[@]}" "${@:2}"; }

# Mean and last-10 mean of step_seconds in a stage's metrics.jsonl.
step_times() {
    grep -o '"step_seconds":[0-9.eE+-]*' "$1/metrics.jsonl" | cut -d: -f2 | awk '
        { t[NR] = $1; sum += $1 }
        END {
            if (NR == 0) { print "no steps"; exit }
            from = NR > 10 ? NR - 9 : 1
            for (i = from; i <= NR; i++) last += t[i]
            printf "%d steps, %.3f s/step (last %d: %.3f s/step)\n", NR, sum / NR, NR - from + 1, last / (NR - from + 1)
        }'
}

note "default model run in $RUN ($(date -u +%FT%TZ)), profile $PROFILE"
note "steps: descriptor $DESCRIPTOR_STEPS, condition $CONDITION_STEPS, density $DENSITY_STEPS; phantoms: train $TRAIN_PHANTOMS, eval $EVAL_PHANTOMS, calibration $CALIBRATION_PHANTOMS"
timed prepare train prepare
note "skipped inputs: $(grep -c '"source"' "$RUN/cache/skipped.json" || true) (see $RUN/cache/skipped.json)"
for stage in descriptor condition density; do
    timed "train-$stage" train "train-$stage" --resume
    note "  $stage: $(step_times "$RUN/$stage")"
done

BUNDLE=$RUN/bundle
rm -rf "$BUNDLE"
timed export "$BIN/screener-export" from-run --run "$RUN" --out "$BUNDLE" --name "$NAME" \
    --version "$VERSION" --density-score "$DENSITY_SCORE"
calibrate() {
    "$BIN/screener" calibrate --model "$BUNDLE" --phantoms "$CALIBRATION_PHANTOMS" \
        --phantom-size "$CALIBRATION_PHANTOM_SIZE" | tee -a "$SUMMARY"
}
timed calibrate calibrate

# The report goes to $RUN/evaluate/modular.json (modular-excess_nll.json for that score); its
# one-line summary to evaluate.log.
evaluate() {
    train evaluate --set "evaluate.density_score=$DENSITY_SCORE" >/dev/null 2>"$RUN/evaluate.log"
}
timed evaluate evaluate
note "trained ($NAME $VERSION): $(grep 'voxel AUROC' "$RUN/evaluate.log")"

if [ "$BASELINE" = 1 ]; then
    # The untrained stand-in (`screener-export untrained` at its default seed, the bundle
    # models/default held before the first trained model), saved as a run folder and
    # evaluated on this run's cache with the same score.
    UNTRAINED=$RUN/untrained
    rm -rf "$UNTRAINED"
    "$BIN/screener-export" untrained --out "$UNTRAINED/bundle" --networks "$UNTRAINED" >/dev/null
    "$BIN/screener-train" evaluate --config "$CONFIG" --run "$UNTRAINED" "${SET[@]}" \
        --set "data.cache_dir=$RUN/cache" --set "evaluate.density_score=$DENSITY_SCORE" \
        >/dev/null 2>"$UNTRAINED/evaluate.log"
    note "untrained stand-in: $(grep 'voxel AUROC' "$UNTRAINED/evaluate.log")"
fi

if [ "$ABLATE" = 1 ]; then
    ablate() { train ablate --resume | tee -a "$SUMMARY"; }
    timed ablate ablate
fi
note "bundle: $BUNDLE (not installed: copy it to models/default after review)"
