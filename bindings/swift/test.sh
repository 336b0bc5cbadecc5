#!/usr/bin/env bash
# Checks the Swift package on a machine without a Swift toolchain (see
# README.md for what this does and does not verify): builds the uniffi library
# and the in-repo uniffi-bindgen (debug), installs the pinned checkers
# (pytest, tree-sitter, tree-sitter-swift from PyPI) into a venv under
# target/, and runs check/ with pytest. Prints pytest's summary; exits
# non-zero on any failure.
#   test.sh --regenerate   first rewrites Sources/ from the built library
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
cd "$root"

cargo build -p lp2p-uniffi --features bindgen-cli
lib="$target/debug/liblp2p_uniffi.so"
bindgen="$target/debug/uniffi-bindgen"
if [ "${1:-}" = "--regenerate" ]; then
  "$here/generate.sh" "$lib" "$here/Sources"
fi

venv="$target/swift-check-venv"
if [ ! -x "$venv/bin/pytest" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check \
  pytest==8.4.2 tree-sitter==0.25.2 tree-sitter-swift==0.7.4

cd "$here"
LP2P_LIBRARY="$lib" LP2P_BINDGEN="$bindgen" "$venv/bin/pytest" -v -p no:cacheprovider check
