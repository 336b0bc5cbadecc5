# lp2p: the two commands of README.md, and the checks CI runs.
#   make demo   builds and runs two nodes on loopback that connect and talk
#   make test   every check and every test (what .ci/run runs)

CARGO ?= cargo

.PHONY: demo test check fmt-check clippy cargo-test

demo:
	$(CARGO) run --release -p lp2p --example demo

test: check cargo-test

check: fmt-check clippy

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

cargo-test:
	$(CARGO) test --workspace
