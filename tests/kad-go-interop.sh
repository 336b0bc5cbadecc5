#!/usr/bin/env bash
# Kademlia interop with go-libp2p-kad-dht: builds the Go DHT peer
# (tests/interop/go-kad, versions pinned in its go.mod; modules from the Go
# proxy) and runs tests/tests/kad_go_interop.rs with it. Needs Go and Rust.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mkdir -p "$root/target/interop"
(cd tests/interop/go-kad && go build -o "$root/target/interop/gokad" .)
LP2P_GO_KAD="$root/target/interop/gokad" cargo test -p lp2p-tests --test kad_go_interop -- --ignored 2>&1 | tee /tmp/lp2p-kad-go.log
grep -q "test result: ok. 1 passed" /tmp/lp2p-kad-go.log
