"""Rendezvous (/rendezvous/1.0.0) and the bootstrap list between lp2p nodes on loopback."""

from __future__ import annotations

import asyncio

import pytest

import lp2p
from helpers import LOOPBACK


async def test_register_discover_and_unregister() -> None:
    async with (
        lp2p.Node(listen=[LOOPBACK]) as point,
        lp2p.Node(listen=[LOOPBACK]) as a,
        lp2p.Node(listen=[LOOPBACK]) as c,
    ):
        point.serve_rendezvous()
        p = await a.dial(point.listen_addrs[0])
        await c.dial(point.listen_addrs[0])

        ttl = await a.rendezvous_register(p, "py-app")
        assert ttl == 7200.0

        found, cookie = await c.rendezvous_discover(p, "py-app")
        assert [r.peer for r in found] == [a.peer_id]
        assert found[0].namespace == "py-app"
        assert found[0].addrs == [addr.rsplit("/p2p/", 1)[0] for addr in a.listen_addrs]
        assert 7000 < found[0].ttl_seconds <= 7200
        assert isinstance(cookie, bytes)
        # The registration's addresses reach a by its peer ID.
        assert await c.ping(a.peer_id) > 0

        newer, _ = await c.rendezvous_discover(p, "py-app", cookie=cookie)
        assert newer == []

        await a.rendezvous_unregister(p, "py-app")
        for _ in range(100):
            left, _ = await c.rendezvous_discover(p)
            if not left:
                break
            await asyncio.sleep(0.02)
        assert left == []


async def test_refusals_are_protocol_errors() -> None:
    async with lp2p.Node(listen=[LOOPBACK]) as point, lp2p.Node(listen=[LOOPBACK]) as a:
        point.serve_rendezvous()
        p = await a.dial(point.listen_addrs[0])
        with pytest.raises(lp2p.ProtocolError, match="E_INVALID_TTL"):
            await a.rendezvous_register(p, "py-app", ttl=60)
        with pytest.raises(lp2p.ProtocolError):
            await a.rendezvous_register(p, "n" * 256)
        with pytest.raises(lp2p.ProtocolError, match="E_INVALID_COOKIE"):
            await a.rendezvous_discover(p, "py-app", cookie=b"\x00" * 8 + b"other")


async def test_bootstrap_from_a_list() -> None:
    async with lp2p.Node(listen=[LOOPBACK]) as a, lp2p.Node() as b:
        assert await b.bootstrap([a.listen_addrs[0]]) == [a.peer_id]
        assert b.is_connected(a.peer_id)
        with pytest.raises(lp2p.NoRoute):
            await b.bootstrap([])
        with pytest.raises(lp2p.InvalidMultiaddr):
            await b.bootstrap(["not an address"])
    assert any(addr.startswith("/dnsaddr/bootstrap.libp2p.io/p2p/") for addr in lp2p.IPFS_BOOTSTRAP)
