# Sourced by the scripts in infra/: installs what building and testing need on a fresh machine.
# Every step is skipped when already satisfied.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  echo "installing the wasm32-wasip2 target ..." >&2
  rustup target add wasm32-wasip2 >&2
fi
if ! command -v curl >/dev/null 2>&1; then
  echo "installing curl ..." >&2
  (apt-get update -qq && apt-get install -y -qq curl) >&2
fi
