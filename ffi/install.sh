#!/usr/bin/env bash
# Installs the C library: PREFIX/include/lp2p.h, PREFIX/lib/liblp2p.so.X.Y.Z
# with its SONAME and development links, PREFIX/lib/liblp2p.a,
# PREFIX/lib/pkgconfig/lp2p.pc and PREFIX/lib/cmake/lp2p (imported target
# lp2p::lp2p).
#   ffi/install.sh PREFIX [LIB_DIR]     LIB_DIR defaults to $CARGO_TARGET_DIR/release or target/release
# Build first: cargo build --release -p lp2p-ffi
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 PREFIX [LIB_DIR]" >&2; exit 1; }
root=$(cd "$(dirname "$0")/.." && pwd)
prefix=$(mkdir -p "$1" && cd "$1" && pwd)
libsrc=${2:-${CARGO_TARGET_DIR:-$root/target}/release}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
[ -n "$version" ] || { echo "no version in Cargo.toml" >&2; exit 1; }
for f in liblp2p.so liblp2p.a; do
  [ -f "$libsrc/$f" ] || { echo "$libsrc/$f is missing: cargo build --release -p lp2p-ffi" >&2; exit 1; }
done
soname=$(objdump -p "$libsrc/liblp2p.so" | awk '/SONAME/ {print $2}')
[ -n "$soname" ] || { echo "liblp2p.so has no SONAME" >&2; exit 1; }

install -d "$prefix/include" "$prefix/lib/pkgconfig" "$prefix/lib/cmake/lp2p"
install -m 644 "$root/include/lp2p.h" "$prefix/include/lp2p.h"
install -m 755 "$libsrc/liblp2p.so" "$prefix/lib/liblp2p.so.$version"
ln -sf "liblp2p.so.$version" "$prefix/lib/$soname"
ln -sf "$soname" "$prefix/lib/liblp2p.so"
install -m 644 "$libsrc/liblp2p.a" "$prefix/lib/liblp2p.a"

cat >"$prefix/lib/pkgconfig/lp2p.pc" <<PC
prefix=$prefix
includedir=\${prefix}/include
libdir=\${prefix}/lib

Name: lp2p
Description: A libp2p implementation (C API)
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -llp2p
Libs.private: -lpthread -ldl -lm
PC

cat >"$prefix/lib/cmake/lp2p/lp2p-config.cmake" <<CMAKE
# lp2p $version: find_package(lp2p) gives the imported target lp2p::lp2p.
get_filename_component(_lp2p_prefix "\${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
if(NOT TARGET lp2p::lp2p)
  add_library(lp2p::lp2p SHARED IMPORTED)
  set_target_properties(lp2p::lp2p PROPERTIES
    IMPORTED_LOCATION "\${_lp2p_prefix}/lib/liblp2p.so.$version"
    IMPORTED_SONAME "$soname"
    INTERFACE_INCLUDE_DIRECTORIES "\${_lp2p_prefix}/include")
endif()
if(NOT TARGET lp2p::lp2p_static)
  find_package(Threads REQUIRED)
  add_library(lp2p::lp2p_static STATIC IMPORTED)
  set_target_properties(lp2p::lp2p_static PROPERTIES
    IMPORTED_LOCATION "\${_lp2p_prefix}/lib/liblp2p.a"
    INTERFACE_INCLUDE_DIRECTORIES "\${_lp2p_prefix}/include"
    INTERFACE_LINK_LIBRARIES "Threads::Threads;\${CMAKE_DL_LIBS};m")
endif()
set(lp2p_VERSION "$version")
unset(_lp2p_prefix)
CMAKE

cat >"$prefix/lib/cmake/lp2p/lp2p-config-version.cmake" <<CMAKE
set(PACKAGE_VERSION "$version")
if(PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
elseif("$version" MATCHES "^0\\\\." AND NOT PACKAGE_FIND_VERSION_MINOR EQUAL "$(echo "$version" | cut -d. -f2)")
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
else()
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
  if(PACKAGE_FIND_VERSION STREQUAL PACKAGE_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
endif()
CMAKE
echo "installed lp2p $version in $prefix"
