"""Resource limits, the allowlist and the connection manager from Python."""

from __future__ import annotations

import asyncio

import pytest

import lp2p
from helpers import LOOPBACK


async def test_resource_limits_and_conn_manager() -> None:
    # Bad settings are refused.
    with pytest.raises(lp2p.InvalidArgument):
        lp2p.Node(conn_manager=lp2p.ConnManager(low=5, high=2))
    with pytest.raises(lp2p.InvalidArgument):
        lp2p.Node(allowlist=["/dns4/example.com/tcp/1"])
    with pytest.raises(lp2p.InvalidArgument):
        lp2p.Node(resource_limits=lp2p.ResourceLimits(max_streams=0))
    with pytest.raises(lp2p.InvalidArgument):
        lp2p.Node(allowlist="/ip4/10.0.0.0/ipcidr/8")

    # One outbound connection at most: the second dial raises LimitReached,
    # and an event says which limit.
    async with lp2p.Node(
        resource_limits=lp2p.ResourceLimits(max_connections=1),
        conn_manager=lp2p.ConnManager(low=1, high=1, grace_period=60.0),
        allowlist=["/ip4/10.0.0.0/ipcidr/8"],
    ) as client, lp2p.Node(listen=[LOOPBACK]) as a, lp2p.Node(listen=[LOOPBACK]) as b:
        events = client.events()
        peer_a = await client.dial(a.listen_addrs[0])
        with pytest.raises(lp2p.LimitReached):
            await client.dial(b.listen_addrs[0])

        async def limit_event() -> lp2p.ResourceLimitExceeded:
            async for event in events:
                if isinstance(event, lp2p.ResourceLimitExceeded):
                    return event
            raise AssertionError("events ended")

        hit = await asyncio.wait_for(limit_event(), 10)
        assert (hit.scope, hit.resource, hit.limit, hit.current, hit.peer) == ("system", "conns_outbound", 1, 1, None)

        # Tags and protections.
        client.tag_peer(peer_a, "useful", 5)
        with pytest.raises(lp2p.InvalidArgument):
            client.tag_peer(peer_a, "x" * 200, 5)
        with pytest.raises(lp2p.InvalidPeerId):
            client.tag_peer("nope", "useful", 5)
        client.untag_peer(peer_a, "useful")
        client.protect_peer(peer_a, "keep")
        client.protect_peer(peer_a, "also")
        assert client.is_protected(peer_a, "keep")
        assert client.unprotect_peer(peer_a, "keep")
        assert not client.unprotect_peer(peer_a, "also")
        assert not client.is_protected(peer_a)


async def test_a_peer_over_its_stream_limit_is_reset() -> None:
    async with lp2p.Node(
        listen=[LOOPBACK], resource_limits=lp2p.ResourceLimits(max_streams_per_peer=64)
    ) as server, lp2p.Node() as client:
        held = asyncio.Event()

        async def hold(stream: lp2p.Stream) -> None:
            await held.wait()

        server.set_stream_handler("/hold/1.0.0", hold)
        events = server.events()
        peer = await client.dial(server.listen_addrs[0])
        streams = []
        refused = None
        for _ in range(80):
            try:
                streams.append(await client.new_stream(peer, "/hold/1.0.0"))
            except lp2p.Error as e:
                refused = e
                break
        assert refused is not None, "every stream was accepted"
        assert len(streams) <= 64

        async def limit_event() -> lp2p.ResourceLimitExceeded:
            async for event in events:
                if isinstance(event, lp2p.ResourceLimitExceeded):
                    return event
            raise AssertionError("events ended")

        hit = await asyncio.wait_for(limit_event(), 10)
        assert hit.scope == "peer" and hit.peer == client.peer_id
        assert hit.resource in ("streams", "streams_inbound")
        held.set()
        for stream in streams:
            stream.reset()
