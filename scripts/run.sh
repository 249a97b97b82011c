#!/usr/bin/env bash
# Starts the node on its embedded defaults (SQLite, bundled model, CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
bash scripts/fetch-onnxruntime.sh
exec cargo run --release --locked -p screener-daemon --bin screener -- serve "$@"
