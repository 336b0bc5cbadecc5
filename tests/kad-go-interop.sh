#!/usr/bin/env bash
# Kademlia interop with go-libp2p-kad-dht and js-libp2p's kad-dht: builds the
# Go DHT peer (tests/interop/go-kad, versions pinned in its go.mod; modules
# from the Go proxy), installs the js one (tests/interop/js-kad, pinned in
# package.json and package-lock.json; packages from npm) and runs
# tests/tests/kad_go_interop.rs against both. Needs Go, Node.js and Rust.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mkdir -p "$root/target/interop"
(cd tests/interop/go-kad && go build -o "$root/target/interop/gokad" .)
(cd tests/interop/js-kad && npm ci --no-audit --no-fund --silent)
printf '#!/bin/sh\nexec node "%s/tests/interop/js-kad/peer.mjs"\n' "$root" > "$root/target/interop/jskad"
chmod +x "$root/target/interop/jskad"
LP2P_GO_KAD="$root/target/interop/gokad" LP2P_JS_KAD="$root/target/interop/jskad" \
  cargo test -p lp2p-tests --test kad_go_interop -- --ignored 2>&1 | tee /tmp/lp2p-kad-foreign.log
grep -q "test result: ok. 2 passed" /tmp/lp2p-kad-foreign.log
