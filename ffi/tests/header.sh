#!/usr/bin/env bash
# Regenerates include/lp2p.h from ffi/src with the pinned cbindgen and fails
# if it differs from the checked-in header. `--update` rewrites the header.
# Installs the pinned cbindgen with cargo when it is missing.
set -euo pipefail
CBINDGEN_VERSION=0.29.4
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

have=$(cbindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$CBINDGEN_VERSION" ]; then
  echo "installing cbindgen $CBINDGEN_VERSION (found: ${have:-none})" >&2
  cargo install cbindgen --version "$CBINDGEN_VERSION" --locked --quiet
fi

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
cbindgen --quiet --config ffi/cbindgen.toml --output "$tmp" ffi/src/lib.rs

if [ "${1:-}" = "--update" ]; then
  cp "$tmp" include/lp2p.h
  echo "include/lp2p.h updated"
elif diff -u include/lp2p.h "$tmp"; then
  echo "include/lp2p.h is up to date (cbindgen $CBINDGEN_VERSION)"
else
  echo "include/lp2p.h is stale: run ffi/tests/header.sh --update" >&2
  exit 1
fi
