#!/usr/bin/env bash
# Cold start of main on Lambda, release build: each run starts a fresh main-service process
# against a local Lambda Runtime API holding one function-URL event and times its init and
# first response. Prints a Markdown table for docs/benchmarks.md. Arguments go to
# `lambda-cold-start` (--runs, --warm).
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
cargo build --quiet --release -p main-service -p bench --bin main-service --bin lambda-cold-start
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" >&2
exec "$target_dir/release/lambda-cold-start" --main "$target_dir/release/main-service" "$@"
