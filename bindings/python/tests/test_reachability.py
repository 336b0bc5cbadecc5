"""External addresses, the DHT's automatic mode and AutoNAT, on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import lp2p
from helpers import LOOPBACK

KAD = "/ipfs/kad/1.0.0"


async def next_of(events: AsyncIterator[lp2p.Event], kind: type, timeout: float = 10.0) -> lp2p.Event:
    """The next event of type `kind`."""

    async def find() -> lp2p.Event:
        async for event in events:
            if isinstance(event, kind):
                return event
        raise AssertionError("the node closed")

    return await asyncio.wait_for(find(), timeout)


async def until(condition: object, timeout: float = 10.0) -> bool:
    """Polls `condition()` until it is true or `timeout` passes."""
    assert callable(condition)
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return bool(condition())


async def test_external_addresses_add_list_remove() -> None:
    async with lp2p.Node(listen=[LOOPBACK]) as node:
        events = node.events()
        assert node.external_addrs == []
        assert node.add_external_address("/ip4/203.0.113.7/tcp/4001") is True
        assert node.add_external_address("/ip4/203.0.113.7/tcp/4001") is False
        # A /p2p/ suffix is dropped.
        assert node.add_external_address(f"/ip4/203.0.113.8/tcp/4001/p2p/{node.peer_id}") is True
        assert sorted(node.external_addrs) == ["/ip4/203.0.113.7/tcp/4001", "/ip4/203.0.113.8/tcp/4001"]
        first = await next_of(events, lp2p.ExternalAddrConfirmed)
        assert first == lp2p.ExternalAddrConfirmed("/ip4/203.0.113.7/tcp/4001")

        assert node.remove_external_address("/ip4/203.0.113.7/tcp/4001") is True
        assert node.remove_external_address("/ip4/203.0.113.7/tcp/4001") is False
        assert node.external_addrs == ["/ip4/203.0.113.8/tcp/4001"]
        gone = await next_of(events, lp2p.ExternalAddrExpired)
        assert gone == lp2p.ExternalAddrExpired("/ip4/203.0.113.7/tcp/4001")

        with pytest.raises(lp2p.InvalidMultiaddr):
            node.add_external_address("not a multiaddr")
        with pytest.raises(lp2p.InvalidMultiaddr):
            node.remove_external_address("/ip4/x")


async def test_auto_dht_serves_with_an_external_address() -> None:
    async with lp2p.Node(listen=[LOOPBACK]) as node:
        kad = node.kad(mode="auto")
        assert kad.mode == "auto"
        assert kad.is_server is False
        assert KAD not in node.protocols
        node.add_external_address("/ip4/203.0.113.9/tcp/4001")
        assert await until(lambda: kad.is_server)
        assert KAD in node.protocols
        node.remove_external_address("/ip4/203.0.113.9/tcp/4001")
        assert await until(lambda: not kad.is_server)
        assert KAD not in node.protocols


async def test_kad_modes_and_the_server_keyword() -> None:
    async with lp2p.Node(listen=[LOOPBACK]) as a, lp2p.Node(listen=[LOOPBACK]) as b:
        # The default is "auto".
        assert a.kad().mode == "auto"
        server = b.kad(server=True, protocol="/lp2p-test/kad/1.0.0")
        assert server.mode == "server" and server.is_server
        client = b.kad(mode="client")
        assert client.mode == "client" and not client.is_server
        assert b.kad(server=False).mode == "client"
        with pytest.raises(lp2p.InvalidArgument):
            b.kad(mode="sometimes")
        with pytest.raises(lp2p.InvalidArgument):
            b.kad(mode="server", server=True)


def without_p2p(addr: str) -> str:
    return addr.split("/p2p/")[0]


async def test_autonat_servers_confirm_a_listen_address() -> None:
    serving = lp2p.AutonatConfig(client=False, allow_private_addresses=True)
    probing = lp2p.AutonatConfig(server=False, allow_private_addresses=True, confirmations=3, probe_interval=0.2)
    async with (
        lp2p.Node(listen=[LOOPBACK], autonat=serving) as s1,
        lp2p.Node(listen=[LOOPBACK], autonat=serving) as s2,
        lp2p.Node(listen=[LOOPBACK], autonat=serving) as s3,
        lp2p.Node(listen=[LOOPBACK], autonat=probing) as node,
    ):
        events = node.events()
        kad = node.kad(mode="auto")
        assert not kad.is_server
        for server in (s1, s2, s3):
            await node.dial(server.listen_addrs[0])
        expected = without_p2p(node.listen_addrs[0])
        confirmed = await next_of(events, lp2p.ExternalAddrConfirmed, timeout=30.0)
        assert confirmed == lp2p.ExternalAddrConfirmed(expected)
        assert expected in node.external_addrs
        assert await until(lambda: kad.is_server)


async def test_autonat_arguments() -> None:
    with pytest.raises(lp2p.InvalidArgument):
        lp2p.Node(autonat=lp2p.AutonatConfig(confirmations=0))
    with pytest.raises(lp2p.InvalidArgument):
        lp2p.Node(autonat=lp2p.AutonatConfig(probe_interval=-1.0))
    with pytest.raises(lp2p.InvalidArgument):
        lp2p.Node(autonat="yes")  # type: ignore[arg-type]
    # Without private addresses allowed, nothing on loopback is confirmed.
    async with lp2p.Node(listen=[LOOPBACK], autonat=True) as node:
        assert node.external_addrs == []
