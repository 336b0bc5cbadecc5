#!/usr/bin/env bash
# The interop matrix: lp2p (its Rust API and the lp2p-node CLI) against
# go-libp2p, js-libp2p and py-libp2p, built from pinned versions, in both
# dial directions. Installs what it needs (Go modules from go.sum, npm ci
# from package-lock.json, a Python venv from requirements.txt), builds the
# peers, runs driver.py, prints the matrix and writes it as JSON to
# target/interop/matrix.json (or $INTEROP_OUT). Closing line
# "interop: N passed, N failed"; exit 1 on any unexpected failure.
#   tests/interop/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
out=$target/interop
mkdir -p "$out"
cd "$root"

# py-libp2p builds fastecdsa from source, which needs the GMP headers.
if ! dpkg -s libgmp-dev >/dev/null 2>&1; then
  echo "interop: installing libgmp-dev (for py-libp2p's fastecdsa)"
  (apt-get update -qq && apt-get install -y -qq libgmp-dev) >"$out/apt.log" 2>&1 || {
    cat "$out/apt.log"
    exit 1
  }
fi

install_go() { # the go-libp2p peer; modules pinned by go.mod and go.sum
  (cd "$here/go" && go build -mod=readonly -o "$out/go-peer" .)
}

install_js() { # the js-libp2p peer; npm ci only when the lock file changed
  local stamp=$here/js/node_modules/.lp2p-lock-sum
  local sum
  sum=$(sha256sum "$here/js/package-lock.json" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    (cd "$here/js" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$sum" >"$stamp"
  fi
}

install_py() { # the py-libp2p peer in its own venv; pip only when pins changed
  local venv=$out/venv stamp=$out/venv/.lp2p-req-sum
  local sum
  sum=$(sha256sum "$here/py/requirements.txt" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/py/requirements.txt"
    echo "$sum" >"$stamp"
  fi
}

install_lp2p() { # the Rust-API peer, liblp2p and lp2p-node (debug builds)
  cargo build -q -p lp2p-tests --example interop-peer
  cargo build -q -p lp2p-ffi
  # Built here, not in examples-c/build, so this script never races the C
  # test targets; the library staged with its SONAME link and the same flags
  # as examples-c/Makefile.
  mkdir -p "$out/lib"
  cp "$target/debug/liblp2p.so" "$out/lib/liblp2p.so"
  local soname
  soname=$(objdump -p "$out/lib/liblp2p.so" | awk '/SONAME/ {print $2}')
  ln -sf liblp2p.so "$out/lib/$soname"
  cc -std=c11 -Wall -Wextra -Werror -O2 -g -I"$root/include" "$root/examples-c/lp2p-node.c" \
    -L"$out/lib" -llp2p -lpthread -Wl,-rpath,"$out/lib" -o "$out/lp2p-node"
}

start=$(date +%s)
pids=()
for part in go js py lp2p; do
  "install_$part" >"$out/install-$part.log" 2>&1 &
  pids+=($!)
done
broken=0
i=0
for part in go js py lp2p; do
  if ! wait "${pids[$i]}"; then
    echo "interop: installing/building the $part side failed:"
    tail -n 40 "$out/install-$part.log"
    broken=1
  fi
  i=$((i + 1))
done
if [ "$broken" -ne 0 ]; then
  echo "interop: 0 passed, 1 failed"
  exit 1
fi
echo "interop: installed and built in $(($(date +%s) - start)) s"

python3 "$here/driver.py" \
  --out "${INTEROP_OUT:-$out/matrix.json}" \
  --known "$here/known-failures.json" \
  --lp2p-peer "$target/debug/examples/interop-peer" \
  --lp2p-node "$out/lp2p-node" \
  --go "$out/go-peer" \
  --js "node $here/js/peer.js" \
  --py "$out/venv/bin/python $here/py/peer.py" \
  --redis-stub "$here/redis_stub.py"
