#!/usr/bin/env bash
# Trains the default model's networks on a GPU machine without network, in one call: Vulkan
# loader, phantom cache plus the real CT packed by scripts/gpu-train/pack.sh, throughput
# probes, descriptor / condition / density training sized to the time left (DEADLINE seconds),
# evaluation and the ablation table. The run folder (without checkpoints and cache) goes to
# $OUT/run.tar.gz; `screener-export from-run` makes the bundle from it back here.
# Settings: config/train-default.toml with GPU-sized batches (below) and PHANTOMS training
# phantoms. LOCAL=1 skips unpacking the loader packages (a test run on this machine).
set -uo pipefail
: "${OUT:?set OUT to the folder that comes back}"
START=$SECONDS
DEADLINE=${DEADLINE:-520}      # seconds after START by which all work must be done
elapsed() { echo $((SECONDS - START)); }
log() { echo "[$(elapsed)s] $*"; }

[ "${LOCAL:-0}" = 1 ] || { for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig; }
ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$ICD" ] && export VK_DRIVER_FILES=$ICD
export BURN_DEVICE=vulkan
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv,noheader
nproc

BIN=/tmp/screener-train
python3 -c "import lzma,shutil;shutil.copyfileobj(lzma.open('.gpu/screener-train.xz'),open('$BIN','wb'))" && chmod +x $BIN
CFG=config/train-default.toml
RUN=/tmp/run
PROBE=/tmp/probe
mkdir -p "$RUN" "$PROBE"
COMMON=(--config "$CFG" --set "data.roots=[]" --set "data.labelled=[]" --set data.workers=$(nproc)
    --set "data.phantoms.count=${PHANTOMS:-48}"
    --set ssl.descriptor_training.batch_size=8 --set ssl.condition_training.batch_size=8
    --set ssl.augment.positives_per_pair=512 --set "ssl.objective.expander_dims=[1024, 1024, 1024]"
    --set density.training.batch_size=4 --set evaluate.batch=4
    --set "models.mask_block=[12, 12, 8]")  # the CPU default; train-default.toml pins 0.2.0's
for kv in ${EXTRA_SET:-}; do COMMON+=(--set "$kv"); done

# The device must compute what the CPU computes before any time goes into training on it.
log check-device
if ! "$BIN" check-device 2>&1 | grep -v XDG_RUNTIME; then
    log "Vulkan (SPIR-V) failed or disagrees with the CPU; trying wgpu's automatic compiler"
    export BURN_DEVICE=wgpu
    "$BIN" check-device 2>&1 | grep -v XDG_RUNTIME || {
        VK_LOADER_DEBUG=error,driver "$BIN" check-device 2>&1 | grep -v XDG_RUNTIME | head -30
        ldd /usr/local/nvidia/lib64/libGLX_nvidia.so.0 | grep "not found"
        exit 1
    }
fi
log prepare
"$BIN" prepare "${COMMON[@]}" --run "$RUN" 2>&1 | tail -3 || exit 1
python3 scripts/gpu-train/unpack_cache.py .gpu/real-cache.tar.xz "$RUN/cache" || exit 1
C=(--set "data.cache_dir=$RUN/cache")

# Median seconds per step of steps 4.. of a stage's metrics.
rate() { python3 -c "
import json,sys,statistics
t=[json.loads(l)['step_seconds'] for l in open('$1/metrics.jsonl')][4:]
print(statistics.median(t))"; }

log probes
"$BIN" train-descriptor "${COMMON[@]}" "${C[@]}" --run "$PROBE" --set ssl.descriptor_training.steps=12 2>&1 | tail -2 || exit 1
log "descriptor probe: $(rate $PROBE/descriptor) s/step"
"$BIN" train-condition "${COMMON[@]}" "${C[@]}" --run "$PROBE" --set ssl.condition_training.steps=12 2>&1 | tail -2 || exit 1
log "condition probe: $(rate $PROBE/condition) s/step"
"$BIN" train-density "${COMMON[@]}" "${C[@]}" --run "$PROBE" --set density.training.steps=10 2>&1 | tail -2 || exit 1
log "density probe: $(rate $PROBE/density) s/step"

# Time left after evaluation's reserve, split 40/40/20, at 85 % of the probe rates.
LEFT=$((DEADLINE - $(elapsed) - ${RESERVE:-70}))
read -r DS CS NS < <(python3 -c "
d,c,n=$(rate $PROBE/descriptor),$(rate $PROBE/condition),$(rate $PROBE/density)
left=$LEFT
f=lambda share,t: max(${MIN_STEPS:-100}, min(${MAX_STEPS:-30000}, int(0.85*share*left/t)))
print(f(0.4,d), f(0.4,c), f(0.2,n))")
log "time left $LEFT s: steps descriptor $DS, condition $CS, density $NS"
S=(--set "ssl.descriptor_training.steps=$DS" --set "ssl.condition_training.steps=$CS" --set "density.training.steps=$NS"
   --set "ssl.descriptor_training.warmup_steps=$((DS / 10))" --set "ssl.condition_training.warmup_steps=$((CS / 10))")
train() { "$BIN" "$1" "${COMMON[@]}" "${C[@]}" "${S[@]}" --run "$RUN" "${@:2}"; }

log descriptor; train train-descriptor 2>&1 | tail -2 || exit 1
log condition; train train-condition 2>&1 | tail -2 || exit 1
log density
# The ablation trains its six density cells with a quarter of the steps beside the main density.
ABL=$((NS / 4))
(train ablate --set "density.training.steps=$ABL" > "$RUN/ablate.log" 2>&1; echo "ablate rc $?" >> "$RUN/ablate.log") &
ABLATE_PID=$!
train train-density 2>&1 | tail -2 || exit 1
log evaluate
train evaluate > "$RUN/evaluate.out" 2> "$RUN/evaluate.log"; tail -3 "$RUN/evaluate.log"
WAIT=$((DEADLINE + 40 - $(elapsed)))
log "waiting up to $WAIT s for the ablation"
for _ in $(seq "$WAIT"); do kill -0 $ABLATE_PID 2>/dev/null || break; sleep 1; done
kill $ABLATE_PID 2>/dev/null
tail -15 "$RUN/ablate.log"
log packing
cd "$RUN" && tar czf "$OUT/run.tar.gz" --exclude='checkpoints' --exclude='cache' --exclude='ablation/*/density/checkpoints' . && ls -la "$OUT"
log done
