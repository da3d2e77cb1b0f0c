#!/usr/bin/env bash
# Runs every check and test of the workspace: formatting, clippy (native and wasm32-wasip2), the
# edge component build, unit, property, behaviour and end-to-end tests (real processes on
# loopback). Installs what it needs on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/setup.sh
setup_browser_tests
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi
set -x
terraform/check.sh
python3 infra/spinkube/check.py
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo clippy -p edge-fn -p protocol --target wasm32-wasip2 --quiet -- -D warnings
# The end-to-end tests run the real component on the real host, and the workspace's binaries,
# which nextest's build makes (every package with binaries has integration tests). A separate
# `cargo build --bins` would build them a second time: without the dev-dependencies, several
# crates resolve other features (num-traits, serde_json, …) and everything above them differs.
cargo build -p edge-fn --target wasm32-wasip2 --profile edge --quiet
cargo nextest run --workspace --no-fail-fast "$@"
