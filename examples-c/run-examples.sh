#!/usr/bin/env bash
# Starts echo-server on loopback, pings it and echoes through it with
# build/ping and echo-client, and stops it. The echo programs run under
# AddressSanitizer (build/asan, leak checks on). The big echo sends 16 MiB of
# random bytes, more than the 4 MiB write queue, so the server must follow
# the back-pressure recipe; every byte must come back (sha256 compared).
# ECHO_SERVER=path runs another server binary. Exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")"
server_bin=${ECHO_SERVER:-build/asan/echo-server}
client_bin=build/asan/echo-client
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
tmp=$(mktemp -d)
log=$tmp/server.log
"$server_bin" /ip4/127.0.0.1/tcp/0 300 >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do
  addr=$(awk '/^listening on / {print $3; exit}' "$log")
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { echo "echo-server did not start:"; cat "$log"; exit 1; }
echo "server: $addr"
build/ping "$addr" 3
reply=$("$client_bin" "$addr" "hello from C")
[ "$reply" = "hello from C" ] || { echo "echo mismatch: $reply"; exit 1; }
echo "echo: $reply"

head -c $((16 * 1024 * 1024)) /dev/urandom >"$tmp/sent"
status=0
"$client_bin" "$addr" - <"$tmp/sent" >"$tmp/echoed" || status=$?
sent_sum=$(sha256sum <"$tmp/sent" | cut -d' ' -f1)
echoed_sum=$(sha256sum <"$tmp/echoed" | cut -d' ' -f1)
echoed_len=$(wc -c <"$tmp/echoed")
if [ "$status" -ne 0 ] || [ "$sent_sum" != "$echoed_sum" ]; then
  echo "big echo failed: client exit $status, $echoed_len of 16777216 bytes back"
  echo "  sent   $sent_sum"
  echo "  echoed $echoed_sum"
  exit 1
fi
echo "big echo: 16777216 bytes, sha256 $echoed_sum"

kill -INT "$server"
wait "$server" || { echo "echo-server failed:"; cat "$log"; exit 1; }
grep -q '^connected: ' "$log" && grep -q '^stopped$' "$log"
echo "examples ok"
