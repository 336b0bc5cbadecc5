#!/usr/bin/env bash
# Builds the Android AAR of lp2p (build/outputs/aar/lp2p-android-release.aar):
# liblp2p_uniffi.so for arm64-v8a, armeabi-v7a, x86_64 and x86 with cargo-ndk,
# the Kotlin generated with Android's settings, and Gradle's assembleRelease.
# Needs: ANDROID_NDK_HOME (an NDK, r26 or later), an Android SDK
# (ANDROID_HOME) and Gradle 8.9+. Not run by this repository's CI.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
: "${ANDROID_NDK_HOME:?set ANDROID_NDK_HOME to an Android NDK}"

cargo install cargo-ndk --version 4.1.2 --locked
rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android i686-linux-android

cd "$root"
cargo ndk -t arm64-v8a -t armeabi-v7a -t x86_64 -t x86 -o "$here/build/jniLibs" \
  build --release -p lp2p-uniffi
cargo build -p lp2p-uniffi --features bindgen-cli --bin uniffi-bindgen
"${CARGO_TARGET_DIR:-$root/target}/debug/uniffi-bindgen" generate \
  --library "$here/build/jniLibs/arm64-v8a/liblp2p_uniffi.so" \
  --language kotlin --no-format --config "$here/uniffi-android.toml" \
  --out-dir "$here/build/generated/uniffi"

cd "$here"
gradle --no-daemon assembleRelease
ls -l build/outputs/aar/
