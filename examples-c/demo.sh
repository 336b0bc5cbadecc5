#!/usr/bin/env bash
# The C demo: builds liblp2p (release) and lp2p-node, starts a listener on
# loopback with mDNS, finds it by mDNS from a second node (no address is
# passed along), then pings it, echoes 1 MiB on 4 streams through it and looks
# it up; finally the listener's log of connections is shown.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
(cd "$root" && cargo build --release -p lp2p-ffi)
make -C "$here" --no-print-directory LP2P_LIB_DIR="${CARGO_TARGET_DIR:-$root/target}/release" build/lp2p-node >/dev/null
node=$here/build/lp2p-node
log=$(mktemp)
"$node" listen --listen /ip4/127.0.0.1/tcp/0 --mdns --seconds 60 >"$log" 2>&1 &
listener=$!
trap 'kill "$listener" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q '^listening on ' "$log" && break; sleep 0.1; done
echo "== listener"
cat "$log"
echo "== lp2p-node discover (mDNS on loopback)"
found=$("$node" discover --listen /ip4/127.0.0.1/tcp/0 --seconds 10)
echo "$found"
addr=$(awk '/^discovered / {print $2; exit}' <<<"$found")
echo "== lp2p-node ping $addr --count 3"
"$node" ping "$addr" --count 3
echo "== lp2p-node echo $addr --bytes 1048576 --streams 4"
"$node" echo "$addr" --bytes 1048576 --streams 4
echo "== lp2p-node lookup $addr"
"$node" lookup "$addr"
kill -INT "$listener"
wait "$listener"
echo "== what the listener saw"
cat "$log"
