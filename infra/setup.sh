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
# moto in server mode: the local DynamoDB, S3 and Secrets Manager the behaviour suites start.
# Pinned: moto 5.2.1 answered CompleteMultipartUpload with the wrong XML root (getmoto/moto#10055),
# which the AWS SDK refuses.
MOTO_VERSION=5.2.5
if ! python3 -c "import moto.server, moto; assert moto.__version__ == '$MOTO_VERSION'" >/dev/null 2>&1; then
  echo "installing moto[server]==$MOTO_VERSION ..." >&2
  if ! command -v python3 >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq python3 python3-pip) >&2
  fi
  # Debian's python refuses pip outside a venv (PEP 668) unless told otherwise.
  python3 -m pip install --quiet "moto[server]==$MOTO_VERSION" >&2 ||
    python3 -m pip install --quiet --break-system-packages "moto[server]==$MOTO_VERSION" >&2
fi
# openapi-spec-validator: the check of main's /openapi.json (main-service tests, openapi.rs).
OPENAPI_VALIDATOR_VERSION=0.7.1
if ! python3 -c "import openapi_spec_validator" >/dev/null 2>&1; then
  echo "installing openapi-spec-validator==$OPENAPI_VALIDATOR_VERSION ..." >&2
  python3 -m pip install --quiet "openapi-spec-validator==$OPENAPI_VALIDATOR_VERSION" >&2 ||
    python3 -m pip install --quiet --break-system-packages \
      "openapi-spec-validator==$OPENAPI_VALIDATOR_VERSION" >&2
fi
# The site's browser test (tests/tests/integration/site_browser.rs): Debian's Chromium, driven
# by playwright-core with axe-core from npm (versions pinned in tests/browser/package-lock.json;
# playwright's own browser download is not used). Only the tests need it: infra/test.sh calls it.
setup_browser_tests() {
  if ! command -v chromium >/dev/null 2>&1; then
    echo "installing chromium ..." >&2
    (apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) >&2
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "installing nodejs and npm ..." >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm) >&2
  fi
  if ! cmp -s tests/browser/package-lock.json tests/browser/node_modules/.installed-lock 2>/dev/null; then
    echo "installing the browser tests' npm packages ..." >&2
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error &&
      cp package-lock.json node_modules/.installed-lock) >&2
  fi
}
