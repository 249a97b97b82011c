#!/usr/bin/env bash
# Packs what `scripts/gpu-train/run.sh` needs on a GPU machine that has no network and takes a
# small working tree (docs/training.md, "Training on a GPU"):
#   .gpu/screener-train.xz    the trainer built with the `vulkan` feature, stripped, xz
#   .gpu/real-cache.tar.xz    the real CT of config/train-default.toml, prepared here and packed
#                             (images as 12-bit integers, step 2.4e-4; phantoms are not packed:
#                             the GPU machine generates them from their seeds)
#   .gl/*.deb                 the Vulkan loader and the glvnd libraries NVIDIA's Vulkan driver
#                             needs (Debian packages, unpacked there into /)
# Idempotent; about 35 minutes on 2 cores from a cold build, seconds afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .gpu .gl

cargo build --release --locked -p screener-trainer --features vulkan --bins
strip -o .gpu/screener-train target/release/screener-train
xz -T2 -6 -f .gpu/screener-train

python3 -c 'import numpy' 2>/dev/null || python3 -m pip install -q numpy
rm -rf .gpu/realprep
target/release/screener-train prepare --config config/train-default.toml --run .gpu/realprep \
    --set data.phantoms.count=0 --set data.eval_phantoms.count=0
python3 scripts/gpu-train/pack_cache.py .gpu/realprep/cache .gpu/real-cache.tar.xz
rm -rf .gpu/realprep

lists=/tmp/screener-gpu-apt-lists
apt_opts=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
mkdir -p "$lists/partial"
apt-get "${apt_opts[@]}" update >/dev/null
(cd .gl && apt-get "${apt_opts[@]}" download libvulkan1 libglvnd0 libglx0 libgl1 libegl1 \
    libopengl0 libgles2 2>&1 | grep -v unsandboxed || true)
du -ch .gpu/* .gl | tail -1
