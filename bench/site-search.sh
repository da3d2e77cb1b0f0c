#!/usr/bin/env bash
# The site's search page and the API's catalog search over a 10,000-item catalog, against
# /healthz on the same server, release build, 16 connections (wrk, installed from Debian's
# packages if missing). Prints a Markdown table for docs/benchmarks.md. Arguments go to
# `site-search` (--items, --secs, --runs).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk) >&2
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
cargo build --quiet --release -p bench --bin site-search
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" >&2
exec "$target_dir/release/site-search" "$@"
