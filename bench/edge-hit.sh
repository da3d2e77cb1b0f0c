#!/usr/bin/env bash
# The edge's hit path through real processes, release builds: the component as shipped (every
# cached chunk checked against its digest when read) against the same component built without
# that check, in the same run on the same machine. Prints a Markdown table for
# docs/benchmarks.md. Arguments go to `edge-hit` (--mib, --runs, --small).
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/setup.sh
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
cargo build --quiet --release -p main-service -p parent-sync -p player -p edge-host -p bench
cargo build --quiet -p edge-fn --target wasm32-wasip2 --profile edge --features bench-skip-at-rest-check
cp "$target_dir/wasm32-wasip2/edge/edge_fn.wasm" "$target_dir/edge_fn.unchecked.wasm"
cargo build --quiet -p edge-fn --target wasm32-wasip2 --profile edge
cp "$target_dir/wasm32-wasip2/edge/edge_fn.wasm" "$target_dir/edge_fn.checked.wasm"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" >&2
exec "$target_dir/release/edge-hit" \
  --component "checked (shipped)=$target_dir/edge_fn.checked.wasm" \
  --component "unchecked=$target_dir/edge_fn.unchecked.wasm" "$@"
