#!/usr/bin/env bash
# Starts build/echo-server on loopback, pings it and echoes through it with
# build/ping and build/echo-client, and stops it. Exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")"
log=$(mktemp)
build/echo-server /ip4/127.0.0.1/tcp/0 30 >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
  addr=$(awk '/^listening on / {print $3; exit}' "$log")
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { echo "echo-server did not start:"; cat "$log"; exit 1; }
echo "server: $addr"
build/ping "$addr" 3
reply=$(build/echo-client "$addr" "hello from C")
[ "$reply" = "hello from C" ] || { echo "echo mismatch: $reply"; exit 1; }
echo "echo: $reply"
kill -INT "$server"
wait "$server"
grep -q '^connected: ' "$log" && grep -q '^stopped$' "$log"
echo "examples ok"
