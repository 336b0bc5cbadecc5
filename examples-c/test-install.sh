#!/usr/bin/env bash
# Installs the library into a temporary PREFIX with ffi/install.sh, then builds
# the examples against the installed copy twice: with pkg-config and with
# CMake (find_package(lp2p), target lp2p::lp2p), and runs each build once.
# CMake is installed with apt-get when missing (as root); without it, and
# without root, the script fails saying so.
#   examples-c/test-install.sh [LIB_DIR]    LIB_DIR defaults to $CARGO_TARGET_DIR/release or target/release
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! command -v cmake >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "cmake is missing: installing it with apt-get"
    apt-get update -qq && apt-get install -y -qq cmake >/dev/null
  fi
  command -v cmake >/dev/null || { echo "test-install: cmake is missing (install cmake, or run as root with apt-get)" >&2; exit 1; }
fi

"$root/ffi/install.sh" "$tmp/prefix" ${1:+"$1"}
ls -l "$tmp/prefix/lib" "$tmp/prefix/include"

export PKG_CONFIG_PATH=$tmp/prefix/lib/pkgconfig
mkdir -p "$tmp/pc"
for prog in ping echo-server echo-client lp2p-node; do
  # shellcheck disable=SC2046
  cc -std=c11 -Wall -Wextra -Werror -O2 "$here/$prog.c" $(pkg-config --cflags --libs lp2p) -lpthread \
    -Wl,-rpath,"$(pkg-config --variable=libdir lp2p)" -o "$tmp/pc/$prog"
done
echo "pkg-config build: ok ($(pkg-config --modversion lp2p))"
"$tmp/pc/lp2p-node" id --json

mkdir -p "$tmp/cmake-src"
cat >"$tmp/cmake-src/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.16)
project(lp2p_consumer C)
find_package(lp2p 0.1 REQUIRED)
add_executable(lp2p-node "$here/lp2p-node.c")
target_link_libraries(lp2p-node PRIVATE lp2p::lp2p)
add_executable(ping-static "$here/ping.c")
target_link_libraries(ping-static PRIVATE lp2p::lp2p_static)
CMAKE
cmake -S "$tmp/cmake-src" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cmake-build" >/dev/null
"$tmp/cmake-build/lp2p-node" id --json
if objdump -p "$tmp/cmake-build/ping-static" | grep -q 'NEEDED.*liblp2p'; then
  echo "ping-static needs liblp2p.so: it was not linked statically" >&2
  exit 1
fi
# The statically linked ping, run without arguments, must print its usage
# and exit 1: any other status (a crash is 128 + the signal) fails.
rc=0
"$tmp/cmake-build/ping-static" 2>"$tmp/ping-static.err" || rc=$?
if [ "$rc" -ne 1 ] || ! grep -q '^usage: ' "$tmp/ping-static.err"; then
  echo "ping-static: expected its usage and exit status 1, got status $rc:" >&2
  cat "$tmp/ping-static.err" >&2
  exit 1
fi
echo "cmake build: ok (ping-static linked statically prints its usage)"
echo "install ok"
