"""Two (or more) lp2p nodes in one process, on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import pytest

import lp2p
from helpers import ECHO, LOOPBACK, echo_handler, echo_through, pattern


@asynccontextmanager
async def connected_pair(**server_options: object) -> AsyncIterator[tuple[lp2p.Node, lp2p.Node, str]]:
    """A server with the echo handler, a client connected to it, and the server's ID."""
    async with lp2p.Node(listen=[LOOPBACK], **server_options) as server, lp2p.Node() as client:  # type: ignore[arg-type]
        server.set_stream_handler(ECHO, echo_handler)
        peer = await client.dial(server.listen_addrs[0])
        assert peer == server.peer_id
        yield server, client, peer


async def test_two_nodes_ping() -> None:
    async with connected_pair() as (server, client, peer):
        rtt = await client.ping(peer)
        assert isinstance(rtt, float)
        assert 0 < rtt < 5
        assert client.is_connected(peer)
        assert peer in client.connected_peers()


async def server_stats_until(server: lp2p.Node, done: Callable[[lp2p.PerfServerStats], bool]) -> None:
    """Waits (at most 10 s) until the server's perf counters satisfy `done`."""

    async def poll() -> None:
        while not done(server.perf_server_stats()):
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), 10)


async def test_perf_counts_bytes_both_ways() -> None:
    async with connected_pair(perf=True) as (server, client, peer):
        assert "/perf/1.0.0" in server.protocols
        result = await client.perf(peer, 300_000, 700_000)
        assert (result.upload_bytes, result.download_bytes) == (300_000, 700_000)
        assert result.upload_seconds > 0 and result.download_seconds > 0
        # Counted on the server's side: what it drained and what it sent.
        await server_stats_until(server, lambda s: s.served == 1)
        assert server.perf_server_stats() == lp2p.PerfServerStats(1, 0, 300_000, 700_000)
        with pytest.raises(lp2p.InvalidPeerId):
            await client.perf("not-a-peer-id", 1, 1)


async def test_perf_is_off_by_default() -> None:
    async with connected_pair() as (server, client, peer):
        assert "/perf/1.0.0" not in server.protocols
        with pytest.raises(lp2p.ProtocolNotSupported):
            await client.perf(peer, 1000, 1000)
        assert server.perf_server_stats() == lp2p.PerfServerStats(0, 0, 0, 0)


async def test_perf_refuses_a_request_over_its_bound() -> None:
    async with connected_pair(perf=True, perf_max_request_bytes=100_000) as (server, client, peer):
        await client.perf(peer, 100_000, 100_000)
        with pytest.raises(lp2p.ProtocolError):
            await client.perf(peer, 0, 100_001)
        await server_stats_until(server, lambda s: s.failed == 1)
        assert server.perf_server_stats() == lp2p.PerfServerStats(1, 1, 100_000, 100_000)
        with pytest.raises(lp2p.InvalidArgument):
            lp2p.Node(perf=True, perf_max_request_bytes=0)


async def test_listen_addrs_end_in_peer_id() -> None:
    async with lp2p.Node(listen=[LOOPBACK, "/ip6/::1/tcp/0"]) as node:
        assert len(node.listen_addrs) == 2
        for addr in node.listen_addrs:
            assert addr.endswith("/p2p/" + node.peer_id)
        extra = await node.listen(LOOPBACK)
        assert extra.endswith("/p2p/" + node.peer_id)
        assert extra in node.listen_addrs


async def test_start_and_close_without_context_manager() -> None:
    node = await lp2p.Node.start(listen=[LOOPBACK])
    other = await lp2p.Node.start()
    assert await other.dial(node.listen_addrs[0]) == node.peer_id
    await other.close()
    await node.close()
    await node.close()  # a second close does nothing


async def test_echo_round_trip_through_handler() -> None:
    async with connected_pair() as (server, client, peer):
        async with await client.new_stream(peer, ECHO) as stream:
            assert stream.peer == peer
            assert stream.protocol == ECHO
            await stream.write(b"hello, lp2p")
            await stream.close()
            assert await stream.read_all() == b"hello, lp2p"


async def test_read_exactly_and_partial_reads() -> None:
    async with connected_pair() as (server, client, peer):
        stream = await client.new_stream(peer, ECHO)
        await stream.write(bytearray(b"0123456789"))
        assert await stream.read_exactly(4) == b"0123"
        await stream.write(memoryview(b"abc"))
        assert await stream.read_exactly(9) == b"456789abc"
        await stream.close()
        assert await stream.read(10) == b""
        with pytest.raises(lp2p.StreamClosed):
            await stream.read_exactly(1)


async def test_transfer_16_mib_checked() -> None:
    data = pattern(16 * 1024 * 1024)
    async with connected_pair() as (server, client, peer):
        stream = await client.new_stream(peer, ECHO)
        back = await echo_through(stream, data)
        assert len(back) == len(data)
        assert hashlib.sha256(back).digest() == hashlib.sha256(data).digest()
        assert back == data


async def test_echo_100_concurrent_streams() -> None:
    async with connected_pair() as (server, client, peer):

        async def one(i: int) -> bool:
            data = pattern(8192 + i, seed=i)
            stream = await client.new_stream(peer, ECHO)
            return await echo_through(stream, data) == data

        results = await asyncio.gather(*(one(i) for i in range(100)))
        assert results == [True] * 100


async def test_invalid_multiaddr_raises() -> None:
    async with lp2p.Node() as node:
        with pytest.raises(lp2p.InvalidMultiaddr) as caught:
            await node.dial("not-a-multiaddr")
        assert "not-a-multiaddr" in str(caught.value)
        assert isinstance(caught.value, lp2p.Error)
    with pytest.raises(lp2p.InvalidMultiaddr):
        lp2p.Node(listen=["/ip4/999.0.0.1/tcp/0"])


async def test_invalid_peer_id_raises() -> None:
    async with lp2p.Node() as node:
        with pytest.raises(lp2p.InvalidPeerId):
            await node.ping("not-a-peer-id")
        with pytest.raises(lp2p.InvalidPeerId):
            await node.new_stream("0OIl-not-base58", ECHO)


async def test_unknown_protocol_raises() -> None:
    async with connected_pair() as (server, client, peer):
        with pytest.raises(lp2p.ProtocolNotSupported) as caught:
            await client.new_stream(peer, "/no/such/protocol/1.0.0")
        assert "/no/such/protocol/1.0.0" in str(caught.value)
        # The connection survives the refusal.
        assert await client.ping(peer) > 0


async def test_removed_handler_is_no_longer_served() -> None:
    async with connected_pair() as (server, client, peer):
        assert ECHO in server.protocols
        assert server.remove_stream_handler(ECHO) is True
        assert server.remove_stream_handler(ECHO) is False
        assert ECHO not in server.protocols
        with pytest.raises(lp2p.ProtocolNotSupported):
            await client.new_stream(peer, ECHO)


async def test_write_to_closed_stream_raises() -> None:
    async with connected_pair() as (server, client, peer):
        stream = await client.new_stream(peer, ECHO)
        await stream.close()
        with pytest.raises(lp2p.StreamClosed):
            await stream.write(b"too late")


async def test_reset_fails_pending_and_later_calls() -> None:
    async def silent(stream: lp2p.Stream) -> None:
        await asyncio.sleep(30)

    async with connected_pair() as (server, client, peer):
        server.set_stream_handler("/silent/1.0.0", silent)
        stream = await client.new_stream(peer, "/silent/1.0.0")
        pending = asyncio.create_task(stream.read(10))
        await asyncio.sleep(0.1)
        stream.reset()
        with pytest.raises(lp2p.StreamReset):
            await pending
        with pytest.raises(lp2p.StreamReset):
            await stream.write(b"x")
        with pytest.raises(lp2p.StreamReset):
            await stream.read(1)


async def test_remote_reset_is_seen() -> None:
    async def resetter(stream: lp2p.Stream) -> None:
        await stream.read_exactly(1)
        stream.reset()

    async with connected_pair() as (server, client, peer):
        server.set_stream_handler("/reset/1.0.0", resetter)
        stream = await client.new_stream(peer, "/reset/1.0.0")
        await stream.write(b"!")
        with pytest.raises(lp2p.StreamReset):
            await asyncio.wait_for(stream.read(10), 10)


async def test_failing_handler_resets_its_stream() -> None:
    async def broken(stream: lp2p.Stream) -> None:
        raise RuntimeError("handler bug")

    async with connected_pair() as (server, client, peer):
        server.set_stream_handler("/broken/1.0.0", broken)
        stream = await client.new_stream(peer, "/broken/1.0.0")
        with pytest.raises(lp2p.StreamReset):
            await asyncio.wait_for(stream.read(10), 10)
        # The node still serves other streams.
        assert await echo_through(await client.new_stream(peer, ECHO), b"ok") == b"ok"


async def test_handlers_run_on_the_registering_loop() -> None:
    seen: list[tuple[asyncio.AbstractEventLoop, int]] = []

    async def record(stream: lp2p.Stream) -> None:
        seen.append((asyncio.get_running_loop(), threading.get_ident()))
        await stream.write(b"seen")

    async with connected_pair() as (server, client, peer):
        server.set_stream_handler("/record/1.0.0", record)
        stream = await client.new_stream(peer, "/record/1.0.0")
        assert await stream.read_exactly(4) == b"seen"
        assert seen == [(asyncio.get_running_loop(), threading.get_ident())]


async def test_event_loop_is_not_blocked_while_waiting() -> None:
    async def silent(stream: lp2p.Stream) -> None:
        await asyncio.sleep(30)

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async with connected_pair() as (server, client, peer):
        server.set_stream_handler("/silent/1.0.0", silent)
        stream = await client.new_stream(peer, "/silent/1.0.0")
        tick_task = asyncio.create_task(ticker())
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(stream.read(10), 0.5)
        tick_task.cancel()
        # 0.5 s of 10 ms ticks: a blocked loop would have seen none.
        assert ticks >= 10


async def test_cancelled_read_releases_the_stream() -> None:
    async with connected_pair() as (server, client, peer):
        stream = await client.new_stream(peer, ECHO)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(stream.read(10), 0.2)
        # The cancelled read no longer holds the read side.
        await stream.write(b"after")
        assert await asyncio.wait_for(stream.read_exactly(5), 10) == b"after"


@asynccontextmanager
async def silent_tcp_server() -> AsyncIterator[tuple[int, asyncio.Queue[asyncio.StreamReader]]]:
    """A TCP server that accepts and never answers: a dial to it hangs in the
    handshake. Yields its port and a queue of the accepted connections' readers."""
    accepted: asyncio.Queue[asyncio.StreamReader] = asyncio.Queue()
    writers: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)  # kept open: the dialer waits for an answer
        await accepted.put(reader)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], accepted
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_cancelling_a_dial_cancels_the_engine_work() -> None:
    async with silent_tcp_server() as (port, accepted), lp2p.Node(connection_timeout=30) as node:
        dial = asyncio.create_task(node.dial(f"/ip4/127.0.0.1/tcp/{port}"))
        conn = await asyncio.wait_for(accepted.get(), 10)
        await asyncio.sleep(0.2)
        assert not dial.done()
        dial.cancel()
        with pytest.raises(asyncio.CancelledError):
            await dial
        # The engine dropped the half-open connection long before its 30 s
        # timeout: the server reads the end of it (whatever the dialer sent first).
        await asyncio.wait_for(conn.read(), 5)
        assert conn.at_eof()
        assert node.connected_peers() == []
        # The node still works.
        async with lp2p.Node(listen=[LOOPBACK]) as other:
            assert await node.dial(other.listen_addrs[0]) == other.peer_id


async def test_dial_timeout_raises_timeout() -> None:
    async with silent_tcp_server() as (port, _), lp2p.Node(connection_timeout=0.5) as node:
        started = asyncio.get_running_loop().time()
        with pytest.raises(lp2p.Timeout) as caught:
            await node.dial(f"/ip4/127.0.0.1/tcp/{port}")
        assert asyncio.get_running_loop().time() - started < 5
        assert "timed out" in str(caught.value)


async def test_dial_refused_raises_dial_error() -> None:
    async with silent_tcp_server() as (port, _):
        pass  # closed: nothing listens on the port now
    async with lp2p.Node() as node:
        with pytest.raises(lp2p.DialError):
            await node.dial(f"/ip4/127.0.0.1/tcp/{port}")


async def test_shutdown_with_streams_still_open() -> None:
    async def silent(stream: lp2p.Stream) -> None:
        await asyncio.sleep(30)

    server = lp2p.Node(listen=[LOOPBACK])
    client = lp2p.Node()
    server.set_stream_handler("/silent/1.0.0", silent)
    peer = await client.dial(server.listen_addrs[0])
    streams = [await client.new_stream(peer, "/silent/1.0.0") for _ in range(5)]
    pending = [asyncio.create_task(s.read(10)) for s in streams]
    await asyncio.sleep(0.1)
    await asyncio.wait_for(server.close(), 10)
    # The client's pending reads end (an error or the end of the stream), never hang.
    done, not_done = await asyncio.wait(pending, timeout=10)
    assert not not_done
    for task in done:
        exc = task.exception()
        assert exc is None and task.result() == b"" or isinstance(exc, lp2p.Error)
    await asyncio.wait_for(client.close(), 10)
    with pytest.raises(lp2p.NodeClosed):
        await client.dial(server.listen_addrs[0] if server.listen_addrs else LOOPBACK)


async def test_identify_and_peer_store() -> None:
    key = lp2p.Keypair.generate()
    async with lp2p.Node(listen=[LOOPBACK], identity=key, agent_version="py-test/1.0") as server, lp2p.Node() as client:
        server.set_stream_handler(ECHO, echo_handler)
        events = client.events()
        peer = await client.dial(server.listen_addrs[0])
        identified = None
        async for event in events:
            if isinstance(event, lp2p.Identified) and event.peer == peer:
                identified = event
                break
        assert identified is not None
        assert identified.agent_version == "py-test/1.0"
        assert ECHO in identified.protocols
        assert "/ipfs/ping/1.0.0" in identified.protocols
        info = client.peer_info(peer)
        assert info is not None
        assert info.peer_id == peer
        assert info.agent_version == "py-test/1.0"
        assert ECHO in info.protocols
        assert info.public_key == key.public_key == identified.public_key
        assert peer in client.known_peers()
        assert client.peer_info(lp2p.Keypair.generate().peer_id) is None


async def test_events_report_connections() -> None:
    async with lp2p.Node(listen=[LOOPBACK]) as server, lp2p.Node() as client:
        events = server.events()
        peer = await client.dial(server.listen_addrs[0])
        first = await asyncio.wait_for(anext_event(events, lp2p.ConnectionEstablished), 10)
        assert first.peer == client.peer_id
        assert first.outbound is False
        await client.close()
        closed = await asyncio.wait_for(anext_event(events, lp2p.ConnectionClosed), 10)
        assert closed.peer == client.peer_id
        assert closed.connection == first.connection
        assert peer == server.peer_id


E = TypeVar("E")


async def anext_event(events: AsyncIterator[lp2p.Event], kind: type[E]) -> E:
    async for event in events:
        if isinstance(event, kind):
            return event
    raise AssertionError(f"no {kind.__name__} before the node closed")


async def test_keys_generate_save_load(tmp_path: Path) -> None:
    key = lp2p.Keypair.generate()
    path = tmp_path / "node.key"
    key.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = lp2p.Keypair.load(path)
    assert loaded.peer_id == key.peer_id
    assert loaded.to_bytes() == key.to_bytes()
    for kind in ("ecdsa", "secp256k1"):
        other = lp2p.Keypair.generate(kind)
        assert lp2p.Keypair.from_bytes(other.to_bytes()).peer_id == other.peer_id
    with pytest.raises(lp2p.InvalidKey):
        lp2p.Keypair.from_bytes(b"\x00garbage")
    with pytest.raises(lp2p.InvalidArgument):
        lp2p.Keypair.generate("rsa-1")
    async with lp2p.Node(listen=[LOOPBACK], identity=loaded) as node:
        assert node.peer_id == key.peer_id
        assert node.listen_addrs[0].endswith("/p2p/" + key.peer_id)


async def test_events_end_when_node_closes() -> None:
    node = lp2p.Node(listen=[LOOPBACK])
    events = node.events()
    await node.close()

    async def collect() -> list[lp2p.Event]:
        return [event async for event in events]

    seen = await asyncio.wait_for(collect(), 10)
    assert all(isinstance(e, (lp2p.ExpiredListenAddr, lp2p.ConnectionClosed)) for e in seen)
