#!/usr/bin/env bash
# lp2p-node's DHT commands between processes on loopback: three
# `listen --dht-server` nodes, then `dht put|get|provide|providers|find-peer`
# as separate processes joining through them. Needs the Rust toolchain and a
# C compiler. Prints "kad-cli: N passed, M failed"; exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cargo build -q -p lp2p-ffi
make -s -C examples-c LP2P_LIB_DIR="$root/target/debug" build/lp2p-node
bin=$root/examples-c/build/lp2p-node
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
passed=0
failed=0
check() { # NAME COMMAND...: passes when the command succeeds
  local name=$1
  shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}
wait_line() { # FILE PATTERN: waits up to 20 s for a line
  for _ in $(seq 200); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timed out waiting for '$2' in $1:" >&2
  cat "$1" >&2
  return 1
}

"$bin" listen --dht-server --seconds 120 > "$tmp/a" 2>&1 &
pids+=($!)
wait_line "$tmp/a" "listening on"
a=$(grep -m1 "listening on" "$tmp/a" | awk '{print $3}')
for n in b c; do
  "$bin" listen --dht-server --bootstrap "$a" --seconds 120 > "$tmp/$n" 2>&1 &
  pids+=($!)
done
wait_line "$tmp/b" "listening on"
wait_line "$tmp/c" "listening on"
b=$(grep -m1 "listening on" "$tmp/b" | awk '{print $3}')
b_id=$(grep -m1 "peer id:" "$tmp/b" | awk '{print $3}')

# A /pk/ record put by one process is got by another.
put=$("$bin" dht put /pk/self --bootstrap "$a")
key=$(echo "$put" | sed -n 's/^stored key hex:\([0-9a-f]*\) on \([0-9]*\) peers$/\1/p')
check "put /pk/self" test -n "$key"
got=$("$bin" dht get "hex:$key" --bootstrap "$b" || true)
# The value is an Ed25519 public key in the protobuf encoding: 08 01 12 20 ...
check "get the record through another node" grep -q "^value hex:08011220" <<< "$got"
check "get a missing record exits 1" bash -c "! '$bin' dht get nothing-here --bootstrap '$a' > /dev/null 2>&1"
check "an unvalidated namespace is refused" bash -c "'$bin' dht put /nope/x v --bootstrap '$a' 2>&1 | grep -q INVALID_ARGUMENT"

# A provider announced by one process is found by another.
"$bin" dht provide some-content --bootstrap "$a" --seconds 20 > "$tmp/p" 2>&1 &
pids+=($!)
wait_line "$tmp/p" "providing as"
provider=$(grep -m1 "providing as" "$tmp/p" | awk '{print $3}' | tr -d ,)
providers=$("$bin" dht providers some-content --bootstrap "$b" || true)
check "providers finds the provider" grep -q "^provider $provider\$" <<< "$providers"

# find-peer: a newcomer that knows only a finds b's address.
found=$("$bin" dht find-peer "$b_id" --bootstrap "$a" || true)
check "find-peer" grep -qF "$b" <<< "$found"
check "usage error without --bootstrap" bash -c "! '$bin' dht get k > /dev/null 2>&1"

echo "kad-cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
