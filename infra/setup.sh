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
