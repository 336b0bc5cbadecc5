# lp2p: the two commands of README.md, and the checks CI runs.
#   make demo   builds liblp2p and the lp2p-node CLI (C), starts two nodes on
#               loopback that connect, ping, echo and look each other up
#   make test   every check and every test (what .ci/run runs)

CARGO ?= cargo
TARGET_DIR := $(abspath $(or $(CARGO_TARGET_DIR),target))
LP2P_NODE := examples-c/build/lp2p-node

SOAK_SECONDS ?= 3600

.PHONY: soak soak-test bench demo demo-rust test check fmt-check clippy header-check cargo-test c-test python-test uniffi-test interop-test discovery-test fuzz fuzz-smoke

demo:
	examples-c/demo.sh

# The same two nodes written against the Rust API.
demo-rust:
	$(CARGO) run --release -p lp2p --example demo

test: check cargo-test fuzz-smoke c-test python-test uniffi-test interop-test discovery-test soak-test

check: fmt-check clippy header-check

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# include/lp2p.h must be what the pinned cbindgen makes of ffi/src.
header-check:
	ffi/tests/header.sh

cargo-test:
	$(CARGO) test --workspace

# The C ABI from C: the C test suite under ASan+UBSan, the examples, the
# lp2p-node CLI, an install with pkg-config and CMake, and lp2p-node against
# rust-libp2p in both directions.
c-test:
	$(CARGO) build -p lp2p-ffi
	LP2P_LIB_DIR=$(TARGET_DIR)/debug ffi/tests/c/run.sh
	$(MAKE) -C examples-c LP2P_LIB_DIR=$(TARGET_DIR)/debug test
	examples-c/test-cli.sh
	examples-c/test-install.sh $(TARGET_DIR)/debug
	tests/interop-c.sh $(LP2P_NODE)

# The Python package: a venv, a debug build, stubtest, mypy, pytest.
python-test:
	bindings/python/test.sh

# Kotlin (JUnit on the JVM through Maven) and the Swift package's checks.
uniffi-test:
	bindings/kotlin/test.sh
	bindings/swift/test.sh

# lp2p against go-libp2p, js-libp2p and py-libp2p, both directions.
interop-test:
	tests/interop/run.sh

# What cargo-test does not reach: mDNS between network namespaces and from
# the CLI, the DHT commands of lp2p-node across processes, and the DHT
# against go-libp2p-kad-dht and js-libp2p's kad-dht.
discovery-test:
	tests/mdns-test.sh
	tests/kad-cli.sh
	tests/kad-go-interop.sh

# Coverage-guided fuzzing of every decoder (cargo-fuzz on nightly; fuzz/run.sh
# installs the pinned cargo-fuzz if missing). fuzz-smoke runs each target a
# few seconds from the checked-in corpus and fails on any crash; fuzz runs
# each for FUZZ_SECONDS (default 60). Crashing inputs land in fuzz/artifacts/.
fuzz-smoke:
	fuzz/run.sh smoke

fuzz:
	fuzz/run.sh fuzz

# Not part of test: lp2p and rust-libp2p side by side (1 GiB perf runs,
# dials, the machine's limits); prints a table, writes bench.json.
#   make bench            make bench QUICK=1 for a short run,
#                         make bench ONLY=perf,memory for some sections
bench:
	$(CARGO) run --release -p lp2p-tests --example bench -- $(if $(QUICK),--quick) $(if $(ONLY),--only $(ONLY))

# Not part of test: a mixed workload (long-lived and churning clients: dials,
# pings, echo, DHT puts and gets) against one node for SOAK_SECONDS (an hour
# by default), checking that its memory, tasks and descriptors stay bounded.
soak:
	$(CARGO) run --release -p lp2p-tests --example soak -- --seconds $(SOAK_SECONDS)

# The 10-minute form of soak, part of test.
soak-test:
	$(CARGO) run -p lp2p-tests --example soak -- --seconds 600
