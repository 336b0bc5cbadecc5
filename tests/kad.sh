#!/usr/bin/env bash
# The Kademlia DHT suite: the pure parts (routing table, codec, stores,
# validators, lookup state machine on a simulated clock), lp2p networks on the
# memory transport (including 1,000 nodes and misbehaving peers), and interop
# with rust-libp2p's kad on loopback. Needs only the Rust toolchain; crates
# come from crates.io (libp2p pinned at =0.57.1 in tests/Cargo.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
status=0
cargo test -p lp2p --lib kad 2>&1 | tee /tmp/lp2p-kad-unit.log || status=1
cargo test -p lp2p --doc protocols::kad 2>&1 | tee /tmp/lp2p-kad-doc.log || status=1
cargo test -p lp2p-tests --test kad --test kad_interop -- --nocapture 2>&1 | tee /tmp/lp2p-kad-net.log || status=1
cargo test -p lp2p-ffi --test kad 2>&1 | tee /tmp/lp2p-kad-ffi.log || status=1
passed=$(cat /tmp/lp2p-kad-unit.log /tmp/lp2p-kad-doc.log /tmp/lp2p-kad-net.log /tmp/lp2p-kad-ffi.log | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(cat /tmp/lp2p-kad-unit.log /tmp/lp2p-kad-doc.log /tmp/lp2p-kad-net.log /tmp/lp2p-kad-ffi.log | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
echo "kad: ${passed} passed, ${failed} failed in $(( $(date +%s) - start ))s"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
