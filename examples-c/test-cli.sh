#!/usr/bin/env bash
# Tests build/lp2p-node end to end on loopback: id (key file kept), listen
# (--external-addr, --dht-auto, --autonat with three AutoNAT servers, resource
# limits and the allowlist),
# ping, echo (several streams), lookup, chat and transport-interop, human and --json output,
# --help and failure exit codes. Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")"
node=build/lp2p-node
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
  if "$@" >>"$tmp/log" 2>&1; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $name" >&2
  fi
}
json_field() { # json_field FILE PYTHON-EXPR (on `o`, the first line) -> prints it
  python3 -c 'import json,sys; o=json.loads(open(sys.argv[1]).readline()); print(eval(sys.argv[2]))' "$1" "$2"
}

# --help everywhere, bad usage fails.
for cmd in id listen ping echo chat lookup perf; do
  check "$cmd --help" "$node" "$cmd" --help
done
check "no command fails" bash -c "! $node"
check "unknown command fails" bash -c "! $node frobnicate"
check "ping without address fails" bash -c "! $node ping"

# id: the key file is created once and reused.
"$node" id --key "$tmp/key" --json >"$tmp/id1.json"
"$node" id --key "$tmp/key" --json >"$tmp/id2.json"
check "key file created" test -s "$tmp/key"
check "same peer id from the key file" test "$(json_field "$tmp/id1.json" 'o["peer_id"]')" = "$(json_field "$tmp/id2.json" 'o["peer_id"]')"
check "id lists echo" test "$(json_field "$tmp/id1.json" '"/echo/1.0.0" in o["protocols"] and "/ipfs/ping/1.0.0" in o["protocols"]')" = True
check "id has a public key and agent" test "$(json_field "$tmp/id1.json" 'bool(o["public_key"]) and o["agent_version"].startswith("lp2p-node/")')" = True
check "id human output" bash -c "$node id --key $tmp/key | grep -q '^peer id: *12D3KooW'"

# listen, JSON.
"$node" listen --key "$tmp/key" --perf --perf-max-bytes 6000000 --seconds 60 --json >"$tmp/listen.json" 2>"$tmp/listen.err" &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/listen.json" ] && break; sleep 0.1; done
addr=$(json_field "$tmp/listen.json" 'o["addrs"][0]')
check "listening event" test "$(json_field "$tmp/listen.json" 'o["event"] == "listening" and o["peer_id"] in o["addrs"][0]')" = True
check "listen peer id is the key's" test "$(json_field "$tmp/listen.json" 'o["peer_id"]')" = "$(json_field "$tmp/id1.json" 'o["peer_id"]')"

# ping.
"$node" ping "$addr" --count 5 --json >"$tmp/ping.json"
check "ping exits 0" test $? -eq 0
check "five ping lines" test "$(grep -c '"event":"ping"' "$tmp/ping.json")" -eq 5
check "ping summary" python3 -c '
import json,sys
lines=[json.loads(l) for l in open(sys.argv[1])]
s=lines[-1]
assert s["event"]=="summary" and s["sent"]==5 and s["received"]==5
assert 0 < s["min_ms"] <= s["median_ms"] <= s["max_ms"]' "$tmp/ping.json"
check "ping human output" bash -c "$node ping $addr --count 1 | grep -q 'ms'"

# echo: several streams at once, more than the muxer window each.
"$node" echo "$addr" --bytes 1048576 --streams 4 --json >"$tmp/echo.json"
check "echo exits 0" test $? -eq 0
check "echo ok" test "$(json_field "$tmp/echo.json" 'o["event"] == "echo" and o["ok"] and o["bytes"] == 1048576 and o["streams"] == 4')" = True
check "echo zero bytes" "$node" echo "$addr" --bytes 0

# perf (the listener has --perf): the test-plans result line, and bad byte
# counts refused. What the server drained and sent is checked at the end,
# from its perf_served line.
"$node" perf "$addr" --upload-bytes 3000000 --download-bytes 5000000 --json >"$tmp/perf.json"
check "perf exits 0" test $? -eq 0
check "perf result line" test "$(json_field "$tmp/perf.json" 'o["type"] == "final" and o["uploadBytes"] == 3000000 and o["downloadBytes"] == 5000000 and o["timeSeconds"] > 0')" = True
check "perf human output" bash -c "$node perf $addr --download-bytes 1000 | grep -q 'Gbit/s'"
check "perf bad byte count fails" bash -c "! $node perf $addr --upload-bytes -5"
check "perf over --perf-max-bytes is refused" bash -c "! $node perf $addr --download-bytes 6000001 2>$tmp/perf-over.err && grep -q 'lp2p-node: perf' $tmp/perf-over.err"
check "--perf-max-bytes needs --perf" bash -c "! $node listen --perf-max-bytes 10 --seconds 1 >/dev/null 2>&1"

# lookup.
"$node" lookup "$addr" --json >"$tmp/lookup.json"
check "lookup exits 0" test $? -eq 0
check "lookup shows the verified signed record" test "$(json_field "$tmp/lookup.json" 'len(o["signed_record_addrs"]) >= 1 and set(o["signed_record_addrs"]) <= set(o["listen_addrs"])')" = True
check "lookup result" test "$(json_field "$tmp/lookup.json" 'o["agent_version"].startswith("lp2p-node/") and "/echo/1.0.0" in o["protocols"] and len(o["listen_addrs"]) >= 1')" = True
check "a listener with --perf announces perf" test "$(json_field "$tmp/lookup.json" '"/perf/1.0.0" in o["protocols"]')" = True

# The listener saw the connections, as JSON events.
check "connection events" bash -c "grep -q '\"event\":\"connection_opened\"' $tmp/listen.json && grep -q '\"event\":\"connection_closed\"' $tmp/listen.json"

# External addresses and the DHT's automatic mode: --external-addr is
# announced (an external_addr_confirmed line, identify's listen addresses)
# and turns a --dht-auto node into a DHT server.
"$node" listen --dht-auto --external-addr /ip4/203.0.113.5/tcp/4001 --seconds 30 --json \
  >"$tmp/auto.json" 2>"$tmp/auto.err" &
auto_pid=$!
pids+=($auto_pid)
for _ in $(seq 100); do grep -q external_addr_confirmed "$tmp/auto.json" && break; sleep 0.1; done
auto_addr=$(json_field "$tmp/auto.json" 'o["addrs"][0]')
check "external address confirmed line" grep -q '"event":"external_addr_confirmed","address":"/ip4/203.0.113.5/tcp/4001"' "$tmp/auto.json"
"$node" lookup "$auto_addr" --json >"$tmp/auto-lookup.json"
check "external address announced, --dht-auto serves" test "$(json_field "$tmp/auto-lookup.json" '"/ip4/203.0.113.5/tcp/4001" in o["listen_addrs"] and "/ipfs/kad/1.0.0" in o["protocols"]')" = True
"$node" listen --dht-auto --seconds 30 --json >"$tmp/auto2.json" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/auto2.json" ] && break; sleep 0.1; done
"$node" lookup "$(json_field "$tmp/auto2.json" 'o["addrs"][0]')" --json >"$tmp/auto2-lookup.json"
check "--dht-auto without an external address is a client" test "$(json_field "$tmp/auto2-lookup.json" '"/ipfs/kad/1.0.0" not in o["protocols"]')" = True
# perf is off by default: not announced, refused in negotiation.
check "a listener without --perf does not announce perf" test "$(json_field "$tmp/auto2-lookup.json" '"/perf/1.0.0" not in o["protocols"]')" = True
check "a listener without --perf refuses perf" bash -c "! $node perf $(json_field "$tmp/auto2.json" 'o["addrs"][0]') --download-bytes 10 2>$tmp/perf-off.err && grep -qi 'not supported' $tmp/perf-off.err"
check "bad --external-addr fails" bash -c "! $node listen --external-addr nope --seconds 1 >/dev/null 2>&1"

# AutoNAT on loopback: three lp2p-node servers dial a fourth node's listen
# address back; it is confirmed as external (an external_addr_confirmed
# line), announced, and the fourth's --dht-auto DHT turns server.
autonat=(--autonat --autonat-allow-private --autonat-probe-interval 0.3)
boots=()
for i in 1 2 3; do
  "$node" listen "${autonat[@]}" --dht-server --seconds 60 --json >"$tmp/an$i.json" 2>"$tmp/an$i.err" &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$tmp/an$i.json" ] && break; sleep 0.1; done
  boots+=(--bootstrap "$(json_field "$tmp/an$i.json" 'o["addrs"][0]')")
done
"$node" listen "${autonat[@]}" --dht-auto "${boots[@]}" --seconds 60 --json >"$tmp/an4.json" 2>"$tmp/an4.err" &
pids+=($!)
for _ in $(seq 300); do grep -q external_addr_confirmed "$tmp/an4.json" && break; sleep 0.1; done
# (Its connection events come before its "listening" line: the DHT joins first.)
an4_addr=$(python3 -c 'import json,sys; print(next(o["addrs"][0] for o in map(json.loads, open(sys.argv[1])) if o["event"] == "listening"))' "$tmp/an4.json")
check "AutoNAT confirms the listen address" grep -q "\"event\":\"external_addr_confirmed\",\"address\":\"${an4_addr%%/p2p/*}\"" "$tmp/an4.json"
"$node" lookup "$an4_addr" --json >"$tmp/an4-lookup.json"
check "AutoNAT: --dht-auto serves" test "$(json_field "$tmp/an4-lookup.json" '"/ipfs/kad/1.0.0" in o["protocols"] and "/libp2p/autonat/2/dial-request" in o["protocols"]')" = True
check "--autonat-allow-private needs --autonat" bash -c "! $node listen --autonat-allow-private --seconds 1 >/dev/null 2>&1"

# chat: a listener and a dialer exchange one line each way.
mkfifo "$tmp/chat.in"
(sleep 30 >"$tmp/chat.in") &
pids+=($!)
"$node" chat --listen /ip4/127.0.0.1/tcp/0 --json <"$tmp/chat.in" >"$tmp/chat-listen.out" 2>"$tmp/chat-listen.err" &
chat_pid=$!
pids+=($chat_pid)
for _ in $(seq 100); do [ -s "$tmp/chat-listen.out" ] && break; sleep 0.1; done
chat_addr=$(json_field "$tmp/chat-listen.out" 'o["addr"]')
printf 'hello from the dialer\n' | "$node" chat "$chat_addr" >"$tmp/chat-dial.out" 2>&1 &
dial_pid=$!
pids+=($dial_pid)
for _ in $(seq 100); do grep -q hello "$tmp/chat-listen.out" && break; sleep 0.1; done
check "chat line received" grep -q '"text":"hello from the dialer"' "$tmp/chat-listen.out"
kill "$chat_pid" 2>/dev/null
wait "$chat_pid" 2>/dev/null
wait "$dial_pid" 2>/dev/null
check "chat dialer ends when the listener leaves" bash -c "! kill -0 $dial_pid 2>/dev/null"

# transport-interop: libp2p test-plans' contract, with the loopback
# stand-in for its Redis server from tests/interop.
check "transport-interop --help" "$node" transport-interop --help
python3 ../tests/interop/redis_stub.py --seconds 120 >"$tmp/redis.port" &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/redis.port" ] && break; sleep 0.1; done
redis=127.0.0.1:$(cat "$tmp/redis.port")
interop=(env transport=tcp security=noise muxer=yamux redis_addr="$redis" test_timeout_seconds=30)
"${interop[@]}" is_dialer=false ip=127.0.0.1 "$node" transport-interop >"$tmp/ti-listen.out" 2>"$tmp/ti-listen.err" &
ti_listener=$!
pids+=($ti_listener)
"${interop[@]}" is_dialer=true "$node" transport-interop >"$tmp/ti-dial.out" 2>"$tmp/ti-dial.err"
check "transport-interop dialer exits 0" test $? -eq 0
check "transport-interop stdout is only the result line" python3 -c '
import json,sys
lines=open(sys.argv[1]).read().splitlines()
assert len(lines)==1, lines
o=json.loads(lines[0])
assert set(o)=={"handshakePlusOneRTTMillis","pingRTTMilllis"}, o
assert 0 < o["pingRTTMilllis"] <= o["handshakePlusOneRTTMillis"] < 30000, o' "$tmp/ti-dial.out"
kill "$ti_listener"
wait "$ti_listener"
check "transport-interop listener exits 0 when stopped" test $? -eq 0
check "transport-interop listener published a dialable address" grep -q 'listening on /ip4/127.0.0.1/tcp/' "$tmp/ti-listen.err"
check "transport-interop refuses what lp2p does not build" bash -c "! env transport=quic-v1 is_dialer=true redis_addr=$redis $node transport-interop 2>$tmp/ti-quic.err && grep -q 'unsupported transport' $tmp/ti-quic.err"
check "transport-interop dialer fails when no listener comes" bash -c "! env transport=tcp security=noise muxer=yamux is_dialer=true redis_addr=$redis test_timeout_seconds=1 $node transport-interop >$tmp/ti-none.out 2>&1 && ! grep -q handshake $tmp/ti-none.out"
check "transport-interop listener exits 1 at its timeout" bash -c "! env transport=tcp security=noise muxer=yamux is_dialer=false ip=127.0.0.1 redis_addr=$redis test_timeout_seconds=1 $node transport-interop 2>/dev/null"
check "transport-interop fails without Redis" bash -c "! env transport=tcp security=noise muxer=yamux is_dialer=true redis_addr=127.0.0.1:1 test_timeout_seconds=1 $node transport-interop 2>/dev/null"

# Resource limits: at most one connection. A chat dialer holds it; a ping is
# refused and the listener says which limit. With loopback allowlisted, the
# ping gets through anyway.
limited_listener() { # limited_listener OUT EXTRA-ARGS... -> prints its address
  local out=$1
  shift
  "$node" listen --max-connections 1 --max-connections-per-ip 4 --conn-low 2 --conn-high 4 --seconds 60 --json "$@" \
    >"$out" 2>>"$tmp/limits.err" &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$out" ] && break; sleep 0.1; done
  json_field "$out" 'o["addrs"][0]'
}
hold_connection() { # hold_connection ADDR NAME: a chat dialer that stays connected
  mkfifo "$tmp/$2.in"
  (sleep 30 >"$tmp/$2.in") &
  pids+=($!)
  "$node" chat "$1" <"$tmp/$2.in" >"$tmp/$2.out" 2>&1 &
  pids+=($!)
}
lim_addr=$(limited_listener "$tmp/lim.json")
hold_connection "$lim_addr" hold1
for _ in $(seq 100); do grep -q connection_opened "$tmp/lim.json" && break; sleep 0.1; done
check "limits: a connection within --max-connections" grep -q connection_opened "$tmp/lim.json"
check "limits: a connection over --max-connections is refused" bash -c "! $node ping $lim_addr --count 1 >/dev/null 2>&1"
for _ in $(seq 100); do grep -q resource_limit_exceeded "$tmp/lim.json" && break; sleep 0.1; done
check "limits: the listener reports the limit" python3 -c '
import json,sys
hits=[o for o in map(json.loads, open(sys.argv[1])) if o["event"]=="resource_limit_exceeded"]
assert any(o["scope"]=="system" and o["resource"] in ("conns_inbound","conns") and o["limit"]==1 for o in hits), hits' "$tmp/lim.json"
allow_addr=$(limited_listener "$tmp/allow.json" --allow /ip4/127.0.0.0/ipcidr/8)
hold_connection "$allow_addr" hold2
for _ in $(seq 100); do grep -q connection_opened "$tmp/allow.json" && break; sleep 0.1; done
check "limits: an allowlisted address skips --max-connections" "$node" ping "$allow_addr" --count 1
check "limits: --conn-low above --conn-high fails" bash -c "! $node listen --conn-low 3 --conn-high 2 --seconds 1 >/dev/null 2>&1"
check "limits: --max-connections 0 fails" bash -c "! $node listen --max-connections 0 --seconds 1 >/dev/null 2>&1"
check "limits: --allow of a non-network fails" bash -c "! $node listen --allow /dns4/example.com/tcp/1 --seconds 1 >/dev/null 2>&1"

# The echo service meets a sender faster than its replies with back-pressure
# (it used to reset the stream, now and then, once 4 MiB of replies were
# queued: hence three tries).
check "echo 10 MiB on one stream, three times" bash -c "for i in 1 2 3; do $node echo $addr --bytes 10485760 >/dev/null || exit 1; done"

# Failures: exit 1 with a message.
"$node" ping /ip4/127.0.0.1/tcp/1 --count 1 >"$tmp/fail.out" 2>"$tmp/fail.err"
check "ping to a closed port exits 1" test $? -eq 1
check "ping failure message" grep -q 'lp2p-node: dial' "$tmp/fail.err"
check "invalid multiaddr exits 1" bash -c "! $node lookup not-an-addr 2>/dev/null"

kill -INT "${pids[0]}"
wait "${pids[0]}"
check "listen exits 0 on SIGINT" test $? -eq 0
# Counted by the server: two runs served (3000000 up / 5000000 down, then
# 1000 down), the one over --perf-max-bytes refused and nothing sent for it.
check "perf server drained and sent what was asked" python3 -c '
import json,sys
o=[json.loads(l) for l in open(sys.argv[1]) if "perf_served" in l][-1]
assert (o["served"], o["failed"], o["bytes_received"], o["bytes_sent"]) == (2, 1, 3000000, 5001000), o' "$tmp/listen.json"

[ "$failed" -eq 0 ] || { echo "--- log"; cat "$tmp/log"; echo "--- listener stderr"; cat "$tmp/listen.err"; } >&2
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
