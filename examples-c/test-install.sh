#!/usr/bin/env bash
# Installs the library into a temporary PREFIX with ffi/install.sh, then builds
# the examples against the installed copy twice: with pkg-config and with
# CMake (find_package(lp2p), target lp2p::lp2p), and runs each build once.
#   examples-c/test-install.sh [LIB_DIR]    LIB_DIR defaults to target/release
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
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

if command -v cmake >/dev/null; then
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
  "$tmp/cmake-build/ping-static" 2>/dev/null && exit 1 # usage error expected: it runs
  echo "cmake build: ok"
fi
echo "install ok"
