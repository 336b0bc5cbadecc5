#!/usr/bin/env bash
# lp2p-node's DHT commands between processes on loopback: three
# `listen --dht-server` nodes, then `dht put|get|provide|providers|find-peer`
# as separate processes joining through them. Needs the Rust toolchain and a
# C compiler. Every command's exit status is checked (the listeners' when
# they are stopped at the end). Prints "kad-cli: N passed, M failed"; exits
# non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}
cargo build -q -p lp2p-ffi
make -s -C examples-c LP2P_LIB_DIR="$target/debug" build/lp2p-node
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
out=""
run() { # NAME COMMAND...: runs it, its stdout into $out; passes when it exits 0
  local name=$1 rc=0
  shift
  out=$("$@" 2>"$tmp/stderr") || rc=$?
  check "$name exits 0" test "$rc" -eq 0
  [ "$rc" -eq 0 ] || cat "$tmp/stderr" >&2
}
exits() { # NAME STATUS COMMAND...: passes when the command exits with STATUS exactly
  local name=$1 want=$2 rc=0
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/stderr" || rc=$?
  check "$name (exit $rc, want $want)" test "$rc" -eq "$want"
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
listeners=($!)
wait_line "$tmp/a" "listening on"
a=$(grep -m1 "listening on" "$tmp/a" | awk '{print $3}')
for n in b c; do
  "$bin" listen --dht-server --bootstrap "$a" --seconds 120 > "$tmp/$n" 2>&1 &
  pids+=($!)
  listeners+=($!)
done
wait_line "$tmp/b" "listening on"
wait_line "$tmp/c" "listening on"
b=$(grep -m1 "listening on" "$tmp/b" | awk '{print $3}')
b_id=$(grep -m1 "peer id:" "$tmp/b" | awk '{print $3}')

# A /pk/ record put by one process is got by another.
run "put /pk/self" "$bin" dht put /pk/self --bootstrap "$a"
put=$out
key=$(echo "$put" | sed -n 's/^stored key hex:\([0-9a-f]*\) on \([0-9]*\) peers$/\1/p')
check "put /pk/self" test -n "$key"
run "get through another node" "$bin" dht get "hex:$key" --bootstrap "$b"
got=$out
# The value is an Ed25519 public key in the protobuf encoding: 08 01 12 20 ...
check "get the record through another node" grep -q "^value hex:08011220" <<< "$got"
exits "get a missing record" 1 "$bin" dht get nothing-here --bootstrap "$a"
exits "put in an unvalidated namespace" 1 "$bin" dht put /nope/x v --bootstrap "$a"
check "an unvalidated namespace is refused" grep -q INVALID_ARGUMENT "$tmp/stderr"

# A provider announced by one process is found by another.
"$bin" dht provide some-content --bootstrap "$a" --seconds 20 > "$tmp/p" 2>&1 &
provider_pid=$!
pids+=($provider_pid)
wait_line "$tmp/p" "providing as"
provider=$(grep -m1 "providing as" "$tmp/p" | awk '{print $3}' | tr -d ,)
run "providers" "$bin" dht providers some-content --bootstrap "$b"
providers=$out
check "providers finds the provider" grep -q "^provider $provider\$" <<< "$providers"

# find-peer: a newcomer that knows only a finds b's address.
run "find-peer" "$bin" dht find-peer "$b_id" --bootstrap "$a"
found=$out
check "find-peer finds b" grep -qF "$b" <<< "$found"
exits "usage error without --bootstrap" 1 "$bin" dht get k

# The provider and the listeners, stopped by SIGINT, exit 0.
for p in "$provider_pid" "${listeners[@]}"; do
  kill -INT "$p"
  rc=0
  wait "$p" || rc=$?
  check "background node $p exits 0 on SIGINT" test "$rc" -eq 0
done

echo "kad-cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
