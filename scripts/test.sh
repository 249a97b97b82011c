#!/usr/bin/env bash
# The whole test suite: system packages (idempotent), formatting, lints, every test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-system-deps.sh
bash scripts/fetch-onnxruntime.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo check -p screener-daemon --features cuda --locked
cargo test --workspace --locked
