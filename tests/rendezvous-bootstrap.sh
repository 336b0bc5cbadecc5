#!/usr/bin/env bash
# Rendezvous and the bootstrap list: the sans-IO unit tests in core
# (protocols::rendezvous, protocols::bootstrap), then the end-to-end tests on
# loopback (tests/tests/rendezvous.rs: lp2p nodes, rust-libp2p's rendezvous as
# point and as client; tests/tests/bootstrap.rs: /dnsaddr/ through a DNS
# server on 127.0.0.1 that the test runs), and the C ABI of both
# (ffi/tests/rendezvous_abi.rs) and the uniffi wrappers (the Python, Kotlin
# and Swift tests run in their own suites). Needs only cargo (crates.io);
# nothing leaves loopback. Prints cargo's summary lines; exit 1 on any failure.
#   tests/rendezvous-bootstrap.sh
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
status=0
run() { # run LABEL CARGO-ARGS...
  local label=$1
  shift
  local log
  log=$(mktemp)
  if cargo test "$@" >"$log" 2>&1; then
    grep -E "^test result:" "$log" | sed "s/^/$label: /"
  else
    status=1
    cat "$log"
    echo "$label: FAILED"
  fi
  rm -f "$log"
}
run "core rendezvous (sans-IO)" -p lp2p --lib protocols::rendezvous
run "core bootstrap (dnsaddr)" -p lp2p --lib protocols::bootstrap
run "rendezvous end to end + rust-libp2p" -p lp2p-tests --test rendezvous
run "bootstrap end to end (local DNS)" -p lp2p-tests --test bootstrap
run "C ABI: rendezvous and bootstrap" -p lp2p-ffi --test rendezvous_abi
run "uniffi wrappers: rendezvous and bootstrap" -p lp2p-uniffi --lib rendezvous
exit $status
