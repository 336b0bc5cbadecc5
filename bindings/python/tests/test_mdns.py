"""mDNS discovery between two lp2p nodes on loopback (multicast over `lo`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import lp2p
from helpers import LOOPBACK


async def first_discovery_of(events: AsyncIterator[lp2p.Event], peer: str) -> lp2p.Discovered:
    async for event in events:
        if isinstance(event, lp2p.Discovered) and event.peer == peer:
            return event
    raise AssertionError("the event stream ended")


async def test_two_nodes_find_each_other_by_mdns_and_dial_by_peer_id() -> None:
    async with lp2p.Node(listen=[LOOPBACK], mdns=True) as a:
        a_events = a.events()
        async with lp2p.Node(listen=[LOOPBACK], mdns=True) as b:
            b_events = b.events()
            found_a = await asyncio.wait_for(first_discovery_of(b_events, a.peer_id), 10)
            found_b = await asyncio.wait_for(first_discovery_of(a_events, b.peer_id), 10)
            assert found_a.addrs == [addr.rsplit("/p2p/", 1)[0] for addr in a.listen_addrs]
            assert found_b.addrs == [addr.rsplit("/p2p/", 1)[0] for addr in b.listen_addrs]
            # No address was passed: b dials a by its ID, from the peer store.
            assert await b.ping(a.peer_id) > 0


async def test_mdns_is_off_by_default() -> None:
    async with lp2p.Node(listen=[LOOPBACK], mdns=True) as a, lp2p.Node(listen=[LOOPBACK]) as b:
        events = b.events()
        try:
            event = await asyncio.wait_for(first_discovery_of(events, a.peer_id), 1.5)
        except asyncio.TimeoutError:
            event = None
        assert event is None
