#!/usr/bin/env bash
# Runs the Kotlin bindings' JUnit 5 suite on the JVM: builds the uniffi
# library and the in-repo uniffi-bindgen (debug), the C CLI lp2p-node for the
# interop test, then `mvn test` (which generates the Kotlin sources from the
# library, compiles them and runs the tests through JNA). Maven fetches its
# own pinned dependencies. Prints Surefire's summary; exits non-zero on any
# failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
cd "$root"

cargo build -p lp2p-uniffi --features bindgen-cli
cargo build -p lp2p-ffi
make -C examples-c LP2P_LIB_DIR="$target/debug" >/dev/null

cd "$here"
mvn -B -ntp test \
  -Dlp2p.root="$root" \
  -Dlp2p.libdir="$target/debug" \
  -Dlp2p.node="$root/examples-c/build/lp2p-node"
