#!/usr/bin/env bash
# Generates the Swift sources of the package from a built lp2p-uniffi library
# with the in-repo uniffi-bindgen: SOURCES/Lp2p/Lp2p.swift and
# SOURCES/lp2pFFI/include/lp2pFFI.h (the module map there is ours).
# Usage: generate.sh LIBRARY SOURCES_DIR
set -euo pipefail
lib=$1
sources=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root"
cargo run -q -p lp2p-uniffi --features bindgen-cli --bin uniffi-bindgen -- \
  generate --library "$lib" --language swift --no-format --out-dir "$tmp"
mkdir -p "$sources/Lp2p" "$sources/lp2pFFI/include"
cp "$tmp/Lp2p.swift" "$sources/Lp2p/Lp2p.swift"
cp "$tmp/lp2pFFI.h" "$sources/lp2pFFI/include/lp2pFFI.h"
