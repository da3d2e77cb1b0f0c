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
exec target/debug/local-network "$@"
