#!/usr/bin/env bash
# The Python binding's checks, from a fresh machine with Python >= 3.10 and
# the Rust toolchain: creates bindings/python/.venv, installs the pinned tools
# (requirements-dev.txt), builds and installs lp2p (a debug build), runs mypy's
# stubtest against the built module and mypy --strict on the package, tests
# and examples, builds the peers of the cross tests (lp2p-node, the C CLI; the
# rust-libp2p test peer) and runs pytest. Prints pytest's summary line; exits
# non-zero on any failure.
#   bindings/python/test.sh [PYTEST ARGS...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
venv=$here/.venv
python=${PYTHON:-python3}

step() { echo "== python: $*"; }

step "venv and pinned tools"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements-dev.txt"

step "build and install lp2p (maturin develop, debug)"
(cd "$here" && VIRTUAL_ENV=$venv PATH="$venv/bin:$PATH" maturin develop -q)

step "stubtest and mypy --strict"
(cd "$here" && "$venv/bin/python" -m mypy.stubtest lp2p)
(cd "$here" && "$venv/bin/python" -m mypy --strict python/lp2p examples tests)

step "the peers of the cross tests: lp2p-node (C) and rust-peer (rust-libp2p)"
(cd "$root" && cargo build -q -p lp2p-ffi && cargo build -q -p lp2p-tests --example rust-peer)
make -s -C "$root/examples-c" LP2P_LIB_DIR="$target/debug" build/lp2p-node

step "pytest"
cd "$here"
LP2P_NODE="$root/examples-c/build/lp2p-node" \
  LP2P_RUST_PEER="$target/debug/examples/rust-peer" \
  "$venv/bin/python" -m pytest tests -q -p no:cacheprovider "$@"
