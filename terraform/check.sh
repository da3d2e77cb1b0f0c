#!/usr/bin/env bash
# Policy checks of the Terraform tree with checkov (no terraform binary needed, nothing
# downloaded at check time). Installs a pinned checkov into target/checkov-venv when no checkov is
# on PATH. Exits non-zero when a check fails; a check we do not apply is skipped inline, next to
# the resource, with its reason (`#checkov:skip=CKV_...:why`).
set -euo pipefail
cd "$(dirname "$0")/.."

CHECKOV_VERSION="${CHECKOV_VERSION:-3.3.30}"
venv="${CHECKOV_VENV:-target/checkov-venv}"

if command -v checkov >/dev/null 2>&1; then
  checkov=checkov
elif [ -x "$venv/bin/checkov" ]; then
  checkov="$venv/bin/checkov"
else
  echo "installing checkov $CHECKOV_VERSION into $venv ..." >&2
  if ! command -v python3 >/dev/null 2>&1 || ! python3 -m venv --help >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq python3 python3-venv) >&2
  fi
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" >&2
  checkov="$venv/bin/checkov"
fi

# --quiet prints only failed checks and the summary; the full report is `--compact` without it.
exec "$checkov" --directory terraform --framework terraform --skip-download --compact --quiet
