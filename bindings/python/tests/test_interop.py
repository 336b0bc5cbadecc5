"""A Python node against peers written by others, in both dial directions:
the lp2p-node C CLI (on the C ABI) and rust-libp2p 0.57.1 (tests/examples/rust-peer.rs)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import lp2p
from helpers import ECHO, LOOPBACK, echo_handler, echo_through, pattern, read_json_line, stop

ONE_MIB = 1024 * 1024


async def _start(*args: str | Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *[str(a) for a in args],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _run(*args: str | Path, timeout: float = 45.0) -> tuple[int, str, str]:
    proc = await _start(*args)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        await stop(proc)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _ping_and_echo(node: lp2p.Node, addr: str) -> None:
    peer = await node.dial(addr)
    assert addr.endswith("/p2p/" + peer)
    assert await node.ping(peer) > 0
    data = pattern(ONE_MIB, seed=7)
    assert await echo_through(await node.new_stream(peer, ECHO), data) == data


async def test_talks_to_lp2p_node_cli(lp2p_node_cli: Path) -> None:
    cli = await _start(lp2p_node_cli, "listen", "--listen", LOOPBACK, "--seconds", "60", "--json")
    try:
        listening = await read_json_line(cli)
        assert listening["event"] == "listening"
        async with lp2p.Node() as node:
            await _ping_and_echo(node, listening["addrs"][0])
            info = node.peer_info(listening["peer_id"])
            assert info is not None and info.agent_version is not None
            assert info.agent_version.startswith("lp2p-node/")
    finally:
        await stop(cli)


async def test_lp2p_node_cli_dials_python(lp2p_node_cli: Path) -> None:
    async with lp2p.Node(listen=[LOOPBACK]) as node:
        node.set_stream_handler(ECHO, echo_handler)
        addr = node.listen_addrs[0]
        code, out, err = await _run(lp2p_node_cli, "ping", addr, "--count", "3", "--json")
        assert code == 0, err
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["event"] == "summary" and summary["received"] == 3
        code, out, err = await _run(lp2p_node_cli, "echo", addr, "--bytes", str(ONE_MIB), "--streams", "4", "--json")
        assert code == 0, err
        result = json.loads(out.strip().splitlines()[-1])
        assert result["event"] == "echo" and result["ok"] is True and result["streams"] == 4


async def test_talks_to_rust_libp2p(rust_peer: Path) -> None:
    peer_proc = await _start(rust_peer, "listen")
    try:
        listening = await read_json_line(peer_proc)
        async with lp2p.Node() as node:
            await _ping_and_echo(node, listening["addrs"][0])
    finally:
        await stop(peer_proc)


async def test_rust_libp2p_dials_python(rust_peer: Path) -> None:
    async with lp2p.Node(listen=[LOOPBACK]) as node:
        node.set_stream_handler(ECHO, echo_handler)
        code, out, err = await _run(rust_peer, "dial", node.listen_addrs[0], str(ONE_MIB))
        assert code == 0, err
        lines = [json.loads(line) for line in out.strip().splitlines()]
        assert lines[0]["event"] == "ping" and lines[0]["rtt_ms"] > 0
        assert lines[-1] == {"event": "echo", "bytes": ONE_MIB, "ok": True}
