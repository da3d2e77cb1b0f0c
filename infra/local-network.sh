#!/usr/bin/env bash
# Starts the whole delivery network on this machine: three parent stores (eu primary, us, ap)
# with replication, the main service, three edges in two regions running the real edge
# component, and a demo catalog. Installs what it needs on a fresh machine. Ctrl-C stops it.
# Extra arguments go to the launcher (see `--help`).
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/setup.sh
echo "building (the first build takes a while) ..." >&2
cargo build --quiet -p edge-fn --target wasm32-wasip2 --profile edge
cargo build --quiet --workspace --bins
# The binaries and the component live in the target directory cargo used, wherever
# CARGO_TARGET_DIR (or a cargo config) put it; the launcher finds the component next to itself.
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
exec "$target_dir/debug/local-network" "$@"
