"""Runs `async def` tests on a fresh asyncio loop each, with a time limit.

A tiny hook instead of pytest-asyncio: one dependency fewer, and every test
gets its own loop, so a leak in one cannot hide in the next.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from pathlib import Path
from typing import Any

import pytest

#: No test may take longer than this (seconds).
TEST_TIMEOUT = float(os.environ.get("LP2P_TEST_TIMEOUT", "60"))

ROOT = Path(__file__).resolve().parents[3]


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    args: dict[str, Any] = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}

    async def run() -> None:
        await asyncio.wait_for(pyfuncitem.obj(**args), TEST_TIMEOUT)

    asyncio.run(run())
    return True


def _binary(env: str, default: Path, build_hint: str) -> Path:
    path = Path(os.environ.get(env, str(default)))
    if not path.is_file():
        pytest.fail(f"{path} is missing: {build_hint} (or set {env})")
    return path


@pytest.fixture(scope="session")
def lp2p_node_cli() -> Path:
    """The C CLI lp2p-node."""
    return _binary(
        "LP2P_NODE",
        ROOT / "examples-c" / "build" / "lp2p-node",
        "cargo build -p lp2p-ffi && make -C examples-c LP2P_LIB_DIR=${CARGO_TARGET_DIR:-$PWD/target}/debug",
    )


@pytest.fixture(scope="session")
def rust_peer() -> Path:
    """The rust-libp2p test peer (libp2p 0.57.1)."""
    target = Path(os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target")))
    return _binary(
        "LP2P_RUST_PEER",
        target / "debug" / "examples" / "rust-peer",
        "cargo build -p lp2p-tests --example rust-peer",
    )
