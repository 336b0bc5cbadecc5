#!/usr/bin/env bash
# Builds artifacts/lp2pFFI.xcframework for the Swift package, on macOS with
# Xcode: liblp2p_uniffi.a (release) for iOS devices, the iOS simulator
# (arm64 + x86_64) and macOS (arm64 + x86_64), each with the generated header
# and module map. Regenerates Sources/ from the macOS library first, so the
# Swift, the header and the library always come from the same build.
# Usage: bindings/swift/build-xcframework.sh     (then: swift build / swift test)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

if [ "$(uname -s)" != Darwin ] || ! command -v xcodebuild >/dev/null; then
  echo "build-xcframework.sh needs macOS with Xcode (xcodebuild, lipo)" >&2
  exit 2
fi

ios=aarch64-apple-ios
sims=(aarch64-apple-ios-sim x86_64-apple-ios)
macs=(aarch64-apple-darwin x86_64-apple-darwin)
target=${CARGO_TARGET_DIR:-$root/target}
cd "$root"
rustup target add "$ios" "${sims[@]}" "${macs[@]}"
for t in "$ios" "${sims[@]}" "${macs[@]}"; do
  cargo build -p lp2p-uniffi --release --target "$t"
done

# The Swift sources and header, from the host's library.
host_lib="$target/$(uname -m | sed 's/arm64/aarch64/')-apple-darwin/release/liblp2p_uniffi.dylib"
"$here/generate.sh" "$host_lib" "$here/Sources"

out="$target/xcframework"
rm -rf "$out" "$here/artifacts/lp2pFFI.xcframework"
mkdir -p "$out/headers" "$out/ios-sim" "$out/macos" "$here/artifacts"
cp "$here/Sources/lp2pFFI/include/lp2pFFI.h" "$here/Sources/lp2pFFI/include/module.modulemap" "$out/headers/"
lipo -create $(for t in "${sims[@]}"; do echo "$target/$t/release/liblp2p_uniffi.a"; done) -output "$out/ios-sim/liblp2p_uniffi.a"
lipo -create $(for t in "${macs[@]}"; do echo "$target/$t/release/liblp2p_uniffi.a"; done) -output "$out/macos/liblp2p_uniffi.a"

xcodebuild -create-xcframework \
  -library "$target/$ios/release/liblp2p_uniffi.a" -headers "$out/headers" \
  -library "$out/ios-sim/liblp2p_uniffi.a" -headers "$out/headers" \
  -library "$out/macos/liblp2p_uniffi.a" -headers "$out/headers" \
  -output "$here/artifacts/lp2pFFI.xcframework"
echo "built $here/artifacts/lp2pFFI.xcframework; now: cd bindings/swift && swift test"
