#!/usr/bin/env bash
# Builds the Lambda packages of main-service and parent-sync for the provided.al2023 runtime: a
# zip per function whose root holds the release binary named `bootstrap`, at
# target/lambda/main-service/bootstrap.zip and target/lambda/parent-sync/bootstrap.zip (where
# terraform/examples/complete looks for them).
#
#   infra/build-lambda.sh            # this machine's architecture
#   infra/build-lambda.sh arm64      # aarch64-unknown-linux-gnu (Graviton, the Terraform default)
#   infra/build-lambda.sh x86_64     # x86_64-unknown-linux-gnu
#
# Amazon Linux 2023 has glibc 2.34. Building for this machine's own architecture uses plain
# `cargo build --release`; any other architecture, or forcing `ZIGBUILD=1`, uses cargo-zigbuild
# with the target `TRIPLE.2.34`, which links against glibc 2.34 whatever the build machine has
# (`pip install ziglang && cargo install --locked cargo-zigbuild`). Either way the script
# refuses a binary that needs a newer glibc than 2.34, which would fail at its first cold start,
# and packages the binary without debug info.
set -euo pipefail
cd "$(dirname "$0")/.."

AL2023_GLIBC=2.34
BINS=(main-service parent-sync)

arch=${1:-$(uname -m)}
case "$arch" in
  x86_64 | amd64) arch=x86_64 triple=x86_64-unknown-linux-gnu ;;
  arm64 | aarch64) arch=arm64 triple=aarch64-unknown-linux-gnu ;;
  *)
    echo "usage: $0 [x86_64|arm64]  (got '$arch')" >&2
    exit 2
    ;;
esac

target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
host=$(rustc -vV | sed -n 's/^host: //p')
packages=()
for bin in "${BINS[@]}"; do packages+=(-p "$bin"); done

if [[ "$triple" == "$host" && "${ZIGBUILD:-0}" != 1 ]]; then
  cargo build --release --locked "${packages[@]}"
  out="$target_dir/release" strip_here=1
elif command -v cargo-zigbuild >/dev/null; then
  rustup target add "$triple"
  # No debug info in the package (see below); the host's objcopy may not know the target.
  CARGO_PROFILE_RELEASE_STRIP=debuginfo \
    cargo zigbuild --release --locked --target "$triple.$AL2023_GLIBC" "${packages[@]}"
  out="$target_dir/$triple/release" strip_here=0
else
  cat >&2 <<EOF
Building for $triple on $host needs cargo-zigbuild (it cross-links against glibc $AL2023_GLIBC):
  pip install ziglang && cargo install --locked cargo-zigbuild && rustup target add $triple
then run $0 $arch again. (\`cargo lambda build --release --$arch --output-format zip\` from
cargo-lambda does the same job.)
EOF
  exit 1
fi

# The newest glibc symbol version a binary needs, e.g. 2.34.
needed_glibc() {
  objdump -T "$1" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1
}

for bin in "${BINS[@]}"; do
  binary="$out/$bin"
  need=$(needed_glibc "$binary")
  if [[ "$(printf '%s\n%s\n' "$need" "$AL2023_GLIBC" | sort -V | tail -n1)" != "$AL2023_GLIBC" ]]; then
    echo "$bin needs glibc $need; provided.al2023 has $AL2023_GLIBC. Build with ZIGBUILD=1 $0 $arch" >&2
    exit 1
  fi
  dir=target/lambda/$bin
  mkdir -p "$dir"
  rm -f "$dir/bootstrap" "$dir/bootstrap.zip"
  # The release profile keeps line tables for local backtraces: 200+ MB, 47 MB zipped, against
  # Lambda's 50 MB limit on a zip uploaded directly. The package drops them (symbols stay).
  if [[ $strip_here == 1 ]]; then
    objcopy --strip-debug "$binary" "$dir/bootstrap"
    chmod 0755 "$dir/bootstrap"
  else
    install -m 0755 "$binary" "$dir/bootstrap"
  fi
  # -X: no extra file attributes, so the same binary gives the same zip.
  (cd "$dir" && zip -q -X bootstrap.zip bootstrap)
  echo "$dir/bootstrap.zip: $arch, glibc >= $need, $(du -h "$dir/bootstrap.zip" | cut -f1) zipped"
done
echo "Set architecture = \"$arch\" in terraform.tfvars (the example's default is arm64)."
