"""Shared pieces of the test suite: handlers, data, subprocess helpers."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import lp2p

LOOPBACK = "/ip4/127.0.0.1/tcp/0"
ECHO = "/echo/1.0.0"


async def echo_handler(stream: lp2p.Stream) -> None:
    """Sends back everything it reads, then closes its side."""
    while data := await stream.read(65536):
        await stream.write(data)


def pattern(size: int, seed: int = 1) -> bytes:
    """`size` bytes that differ at every offset (a hash chain), so that a
    dropped, repeated or reordered chunk is caught."""
    out = bytearray()
    block = seed.to_bytes(8, "little")
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


async def echo_through(stream: lp2p.Stream, data: bytes) -> bytes:
    """Writes `data` and closes while reading everything back at the same time."""

    async def send() -> None:
        await stream.write(data)
        await stream.close()

    writer = asyncio.create_task(send())
    back = await stream.read_all()
    await writer
    return back


async def read_json_line(proc: asyncio.subprocess.Process, timeout: float = 20.0) -> dict[str, Any]:
    """The next stdout line of `proc`, parsed as JSON."""
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout)
    assert line, "the process closed its output"
    parsed: dict[str, Any] = json.loads(line)
    return parsed


async def stop(proc: asyncio.subprocess.Process) -> None:
    """Ends a helper process we started."""
    if proc.returncode is None:
        proc.kill()
    await proc.wait()
