#!/usr/bin/env bash
# Our edge against the peers an operator would pick instead, in the same run on this machine:
# nginx sendfile (hits, 1 KiB ranges) and Varnish in front of the same parent (cold downloads).
# Installs nginx, varnish and wrk from Debian's packages if missing, builds release binaries and
# the shipped component, and prints a Markdown table for docs/benchmarks.md. Arguments go to
# `edge-peers` (--mib, --cold-mib, --runs, --clients, --wrk-secs).
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/setup.sh
missing=()
for tool in nginx varnishd wrk; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing nginx, varnish and wrk ..." >&2
  (apt-get update -qq && apt-get install -y -qq nginx varnish wrk) >&2
fi
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
cargo build --quiet --release -p main-service -p parent-sync -p player -p edge-host -p bench
cargo build --quiet -p edge-fn --target wasm32-wasip2 --profile edge
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" >&2
exec "$target_dir/release/edge-peers" \
  --component "$target_dir/wasm32-wasip2/edge/edge_fn.wasm" "$@"
