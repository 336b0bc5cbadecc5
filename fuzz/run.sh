#!/usr/bin/env bash
# Runs the fuzz targets of fuzz/fuzz_targets with cargo-fuzz (libFuzzer).
#
#   fuzz/run.sh fuzz  [TARGET...]   every target (or those named) for
#                                   FUZZ_SECONDS each (default 60)
#   fuzz/run.sh smoke [TARGET...]   every target for FUZZ_SMOKE_SECONDS each
#                                   (default 5): part of `make test`
#   fuzz/run.sh build               only build the targets
#
# Each run starts from the checked-in corpus fuzz/corpus/<target> (read, never
# written: new inputs go to a scratch corpus under the target dir) and saves
# a crashing input under fuzz/artifacts/<target>/. Exits non-zero if any
# target crashed. Prints executions per second for each target.
#
# Needs the nightly toolchain (rustup's `nightly`); installs the pinned
# cargo-fuzz into CARGO_FUZZ_ROOT (default fuzz/.tools) if it is missing.
# Build artifacts go to FUZZ_TARGET_DIR (default $CARGO_TARGET_DIR/fuzz, or
# fuzz/target). FUZZ_SANITIZER picks the sanitizer (default address).
set -euo pipefail

CARGO_FUZZ_VERSION=0.13.1
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
mode=${1:-smoke}
shift || true

root=${CARGO_FUZZ_ROOT:-$here/.tools}
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    target_dir=${FUZZ_TARGET_DIR:-$CARGO_TARGET_DIR/fuzz}
else
    target_dir=${FUZZ_TARGET_DIR:-$here/target}
fi
sanitizer=${FUZZ_SANITIZER:-address}

if ! "$root/bin/cargo-fuzz" --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
    echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION into $root"
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" --root "$root" \
        --target-dir "$target_dir/cargo-fuzz-install"
fi
export PATH="$root/bin:$PATH"

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
    exit 1
fi

cd "$repo"
fuzz=(cargo +nightly fuzz)
build_flags=(--fuzz-dir fuzz --target-dir "$target_dir" --sanitizer "$sanitizer" --release --debug-assertions)

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <("${fuzz[@]}" list --fuzz-dir fuzz)
fi

echo "fuzz: building ${#targets[@]} targets (sanitizer $sanitizer) in $target_dir"
start=$(date +%s)
"${fuzz[@]}" build "${build_flags[@]}"
echo "fuzz: built in $(( $(date +%s) - start )) s"
[ "$mode" = build ] && exit 0

case "$mode" in
    fuzz) seconds=${FUZZ_SECONDS:-60} ;;
    smoke) seconds=${FUZZ_SMOKE_SECONDS:-5} ;;
    *) echo "usage: $0 fuzz|smoke|build [TARGET...]" >&2; exit 2 ;;
esac

logs="$target_dir/fuzz-logs"
scratch="$target_dir/fuzz-corpus"
mkdir -p "$logs"
failed=()
summary=()
for t in "${targets[@]}"; do
    mkdir -p "$scratch/$t" "fuzz/corpus/$t" "fuzz/artifacts/$t"
    log="$logs/$t.log"
    # The scratch corpus comes first: libFuzzer writes new inputs to the
    # first directory only.
    if "${fuzz[@]}" run "${build_flags[@]}" "$t" "$scratch/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="fuzz/artifacts/$t/" >"$log" 2>&1; then
        status=ok
    else
        status=CRASH
        failed+=("$t")
        grep -E "panicked|ERROR: |SUMMARY|Test unit written" "$log" | head -8 || true
    fi
    runs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$" | tail -1 || true)
    rate=$(grep -oE "exec/s: *[0-9]+" "$log" | grep -oE "[0-9]+$" | tail -1 || true)
    cov=$(grep -oE "cov: *[0-9]+" "$log" | grep -oE "[0-9]+$" | tail -1 || true)
    line=$(printf "%-24s %-6s %10s runs %8s exec/s  cov %s" "$t" "$status" "${runs:-?}" "${rate:-?}" "${cov:-?}")
    echo "fuzz: $line"
    summary+=("$line")
done

echo
echo "fuzz: $mode, ${seconds} s per target (logs in $logs)"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: crashes in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
