#!/usr/bin/env bash
# Builds liblp2p (debug) and the C tests, and runs them under AddressSanitizer
# + UndefinedBehaviorSanitizer with leak detection. LP2P_C_TEST_TOOL=valgrind
# runs them under valgrind instead. LP2P_LIB_DIR=<dir> skips the cargo build
# and uses the liblp2p.so found there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
CC=${CC:-cc}
CXX=${CXX:-c++}

if [ -z "${LP2P_LIB_DIR:-}" ]; then
  (cd "$root" && cargo build -p lp2p-ffi)
  LP2P_LIB_DIR=${CARGO_TARGET_DIR:-$root/target}/debug
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# The library's SONAME (liblp2p.so.0.<minor>) is what the loader looks for.
soname=$(objdump -p "$LP2P_LIB_DIR/liblp2p.so" | awk '/SONAME/ {print $2}')
[ -n "$soname" ] || { echo "liblp2p.so has no SONAME" >&2; exit 1; }
cp "$LP2P_LIB_DIR/liblp2p.so" "$out/"
ln -s liblp2p.so "$out/$soname"

# The header compiles cleanly as C11 (pedantic) and as C++.
echo '#include "lp2p.h"' > "$out/h.c"
"$CC" -std=c11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -I"$root/include" "$out/h.c"
"$CXX" -std=c++17 -Wall -Wextra -Werror -fsyntax-only -x c++ -I"$root/include" "$out/h.c"

if [ "${LP2P_C_TEST_TOOL:-asan}" = valgrind ]; then
  "$CC" -std=c11 -Wall -Wextra -Werror -g -I"$root/include" "$here/test_lp2p.c" \
    -L"$out" -llp2p -lpthread -o "$out/test_lp2p"
  LD_LIBRARY_PATH=$out valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite \
    --error-exitcode=1 "$out/test_lp2p"
else
  "$CC" -std=c11 -Wall -Wextra -Werror -g -fsanitize=address,undefined -fno-omit-frame-pointer \
    -fno-sanitize-recover=all -I"$root/include" "$here/test_lp2p.c" -L"$out" -llp2p -lpthread -o "$out/test_lp2p"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
    LD_LIBRARY_PATH=$out "$out/test_lp2p"
fi
