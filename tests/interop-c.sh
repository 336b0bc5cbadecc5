#!/usr/bin/env bash
# lp2p-node (the C CLI, on the public header only) against the rust-libp2p
# peer of this crate (examples/rust-peer.rs, libp2p pinned), both directions:
# ping and a checked echo. Prints "N passed, N failed"; exit 1 on any failure.
#   tests/interop-c.sh LP2P_NODE     (build it with make -C examples-c)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
node=${1:?usage: tests/interop-c.sh path/to/lp2p-node}
cd "$root"
cargo build -q -p lp2p-tests --example rust-peer || exit 1
rust_peer=${CARGO_TARGET_DIR:-$root/target}/debug/examples/rust-peer
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
passed=0
failed=0
check() { # check NAME COMMAND...
  local name=$1
  shift
  if timeout 60 "$@" >"$tmp/$name.log" 2>&1; then
    passed=$((passed + 1))
    echo "ok: $name"
  else
    failed=$((failed + 1))
    echo "FAIL: $name"
    cat "$tmp/$name.log"
  fi
}
wait_line() { # wait_line FILE PATTERN: waits up to 10 s for a line
  for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# lp2p-node dials rust-libp2p.
"$rust_peer" listen >"$tmp/rust.out" 2>"$tmp/rust.err" &
pids+=($!)
if wait_line "$tmp/rust.out" '"addrs"'; then
  rust_addr=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["addrs"][0])' "$tmp/rust.out")
  check c-pings-rust "$node" ping "$rust_addr" --count 3
  check c-echoes-rust "$node" echo "$rust_addr" --bytes 1048576 --streams 1
else
  failed=$((failed + 2))
  echo "FAIL: rust-peer did not start"
  cat "$tmp/rust.err"
fi

# rust-libp2p dials lp2p-node.
"$node" listen --listen /ip4/127.0.0.1/tcp/0 --seconds 60 --json >"$tmp/c.out" 2>"$tmp/c.err" &
pids+=($!)
if wait_line "$tmp/c.out" '"listening"'; then
  c_addr=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["addrs"][0])' "$tmp/c.out")
  check rust-pings-and-echoes-c "$rust_peer" dial "$c_addr" 1048576
else
  failed=$((failed + 1))
  echo "FAIL: lp2p-node did not start"
  cat "$tmp/c.err"
fi

echo "c-interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
