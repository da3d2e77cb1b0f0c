#!/usr/bin/env bash
# main's POST /v1/edge/authorize against a verify-only ceiling (a bare axum route checking the
# edge's credential and the token's Ed25519 signature), in the same run, release builds, 16
# connections (wrk, installed from Debian's packages if missing). Prints a Markdown table for
# docs/benchmarks.md. Arguments go to `authorize` (--secs, --runs, --dynamodb).
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/setup.sh
command -v wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk) >&2
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
cargo build --quiet --release -p main-service -p parent-sync -p player -p edge-host -p bench
cargo build --quiet -p edge-fn --target wasm32-wasip2 --profile edge
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" >&2
exec "$target_dir/release/authorize" "$@"
