#!/usr/bin/env bash
# Starts echo-server on loopback, pings it and echoes through it with
# build/ping and echo-client, and stops it. The echo programs run under
# AddressSanitizer (build/asan, leak checks on). The big echo sends 16 MiB of
# random bytes, more than the 4 MiB write queue, so the server must follow
# the back-pressure recipe; every byte must come back (sha256 compared). It
# runs twice: with the server's default high mark (1 MiB), and with a high
# mark above the queue's limit, so that WOULD_BLOCK is what pauses reading.
# ECHO_SERVER=path runs another server binary. Exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")"
server_bin=${ECHO_SERVER:-build/asan/echo-server}
client_bin=build/asan/echo-client
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
tmp=$(mktemp -d)
server=
trap 'kill "$server" 2>/dev/null || true; rm -rf "$tmp"' EXIT

# start_server LOG [HIGH_MARK]: starts the server, sets $server and $addr.
start_server() {
  : >"$1"
  "$server_bin" /ip4/127.0.0.1/tcp/0 300 ${2:+"$2"} >"$1" 2>&1 &
  server=$!
  addr=
  for _ in $(seq 100); do
    addr=$(awk '/^listening on / {print $3; exit}' "$1")
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || { echo "echo-server did not start:"; cat "$1"; exit 1; }
  echo "server: $addr"
}

# stop_server LOG: SIGINT, then the server must exit 0 (ASan clean) and say so.
stop_server() {
  kill -INT "$server"
  wait "$server" || { echo "echo-server failed:"; cat "$1"; exit 1; }
  grep -q '^connected: ' "$1" && grep -q '^stopped$' "$1"
}

# big_echo WHAT: 16 MiB through the server at $addr, checked by sha256.
big_echo() {
  local status=0 sent_sum echoed_sum echoed_len
  "$client_bin" "$addr" - <"$tmp/sent" >"$tmp/echoed" || status=$?
  sent_sum=$(sha256sum <"$tmp/sent" | cut -d' ' -f1)
  echoed_sum=$(sha256sum <"$tmp/echoed" | cut -d' ' -f1)
  echoed_len=$(wc -c <"$tmp/echoed")
  if [ "$status" -ne 0 ] || [ "$sent_sum" != "$echoed_sum" ]; then
    echo "big echo ($1) failed: client exit $status, $echoed_len of 16777216 bytes back"
    echo "  sent   $sent_sum"
    echo "  echoed $echoed_sum"
    exit 1
  fi
  echo "big echo ($1): 16777216 bytes, sha256 $echoed_sum"
}

head -c $((16 * 1024 * 1024)) /dev/urandom >"$tmp/sent"
start_server "$tmp/server.log"
build/ping "$addr" 3
reply=$("$client_bin" "$addr" "hello from C")
[ "$reply" = "hello from C" ] || { echo "echo mismatch: $reply"; exit 1; }
echo "echo: $reply"
big_echo "high mark 1 MiB"
stop_server "$tmp/server.log"

start_server "$tmp/server2.log" $((64 * 1024 * 1024))
big_echo "WOULD_BLOCK only"
stop_server "$tmp/server2.log"
echo "examples ok"
