"""lp2p: libp2p for Python, asyncio-native, on a Rust engine.

    import asyncio, lp2p

    async def echo(stream: lp2p.Stream) -> None:
        async with stream:
            while data := await stream.read(65536):
                await stream.write(data)

    async def main() -> None:
        async with lp2p.Node(listen=["/ip4/127.0.0.1/tcp/0"]) as server, lp2p.Node() as client:
            server.set_stream_handler("/echo/1.0.0", echo)
            peer = await client.dial(server.listen_addrs[0])
            print("rtt", await client.ping(peer))
            async with await client.new_stream(peer, "/echo/1.0.0") as stream:
                await stream.write(b"hi")
                await stream.close()
                print(await stream.read_all())

    asyncio.run(main())

Peer IDs and multiaddrs are strings. Every awaitable runs in the engine
without holding the GIL; cancelling the awaiting task cancels the work.
Errors are subclasses of `lp2p.Error`.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Union

from lp2p import _native
from lp2p._native import (
    DialError,
    Error,
    InternalError,
    InvalidArgument,
    InvalidKey,
    InvalidMultiaddr,
    InvalidPeerId,
    IoError,
    LimitReached,
    NodeClosed,
    NoRoute,
    PeerIdMismatch,
    ProtocolError,
    ProtocolNotSupported,
    StreamClosed,
    StreamReset,
    Timeout,
)

__all__ = [
    "AutonatConfig",
    "ConnManager",
    "ConnectionClosed",
    "ConnectionEstablished",
    "DialError",
    "Discovered",
    "Error",
    "Event",
    "ExpiredListenAddr",
    "ExternalAddrConfirmed",
    "ExternalAddrExpired",
    "Identified",
    "InternalError",
    "IPFS_BOOTSTRAP",
    "InvalidArgument",
    "InvalidKey",
    "InvalidMultiaddr",
    "InvalidPeerId",
    "IoError",
    "Kad",
    "Keypair",
    "LimitReached",
    "NewListenAddr",
    "PerfResult",
    "PerfServerStats",
    "Node",
    "NodeClosed",
    "NoRoute",
    "PeerIdMismatch",
    "PeerInfo",
    "ProtocolError",
    "ProtocolNotSupported",
    "RendezvousRegistration",
    "ResourceLimitExceeded",
    "ResourceLimits",
    "Stream",
    "StreamClosed",
    "StreamHandler",
    "StreamReset",
    "Timeout",
]

__version__ = "0.1.0"

_log = logging.getLogger("lp2p")

# The engine's threads must be stopped before the interpreter finalizes, or one
# may take the GIL during finalization and abort the process.
atexit.register(_native.shutdown)

#: The most bytes `Stream.read_all` collects unless told otherwise.
DEFAULT_READ_ALL_LIMIT = 64 * 1024 * 1024


class Keypair:
    """A node's identity key pair (Ed25519 unless told otherwise)."""

    __slots__ = ("_native",)

    def __init__(self, native: _native.Keypair) -> None:
        self._native = native

    @classmethod
    def generate(cls, key_type: str = "ed25519") -> Keypair:
        """A fresh key: "ed25519", "ecdsa" or "secp256k1"."""
        return cls(_native.Keypair.generate(key_type))

    @classmethod
    def from_bytes(cls, data: bytes) -> Keypair:
        """Decodes the libp2p protobuf encoding of a private key (`InvalidKey`)."""
        return cls(_native.Keypair.from_protobuf(bytes(data)))

    def to_bytes(self) -> bytes:
        """The libp2p protobuf encoding of the private key. Keep it secret."""
        return self._native.to_protobuf()

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Keypair:
        """Reads a key written by `save` (or by `lp2p-node id --key`)."""
        with open(path, "rb") as f:
            return cls.from_bytes(f.read())

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the key to `path`, readable by the owner only (mode 0600)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(self.to_bytes())

    @property
    def peer_id(self) -> str:
        """The peer ID of this key."""
        return self._native.peer_id

    @property
    def public_key(self) -> bytes:
        """The public key, protobuf-encoded."""
        return self._native.public_key

    def __repr__(self) -> str:
        return f"<Keypair peer_id={self.peer_id}>"


class Stream:
    """A bidirectional stream to a peer for one protocol.

    Reads and writes may run at the same time from different tasks.
    `close()` closes our write side (the remote reads the end of the stream)
    while reading goes on; `reset()` aborts both directions. `async with
    stream` closes it on a normal exit and resets it on an exception. A
    stream dropped without `close()` is reset.
    """

    __slots__ = ("_native",)

    def __init__(self, native: _native.Stream) -> None:
        self._native = native

    @property
    def peer(self) -> str:
        """The remote peer's ID."""
        return self._native.peer

    @property
    def protocol(self) -> str:
        """The negotiated protocol."""
        return self._native.protocol

    async def read(self, n: int = 65536) -> bytes:
        """Up to `n` bytes as soon as some arrive; b"" at the end of the stream."""
        return await self._native.read(n)

    async def read_exactly(self, n: int) -> bytes:
        """Exactly `n` bytes; `StreamClosed` if the stream ends first."""
        return await self._native.read_exactly(n)

    async def read_all(self, limit: int = DEFAULT_READ_ALL_LIMIT) -> bytes:
        """Everything up to the end of the stream; `InvalidArgument` past `limit` bytes."""
        chunks = []
        total = 0
        while chunk := await self._native.read(65536):
            total += len(chunk)
            if total > limit:
                raise InvalidArgument(f"the stream sent more than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Writes all of `data`, waiting while the peer cannot take more."""
        await self._native.write(data if isinstance(data, bytes) else bytes(data))

    async def close(self) -> None:
        """Closes our write side; the remote reads the end of the stream."""
        await self._native.close()

    def reset(self) -> None:
        """Aborts both directions; pending and later calls raise `StreamReset`."""
        self._native.reset()

    async def __aenter__(self) -> Stream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            try:
                await self.close()
            except (StreamClosed, StreamReset):
                pass
        else:
            self.reset()

    def __repr__(self) -> str:
        return f"<Stream peer={self.peer} protocol={self.protocol}>"


#: An inbound stream handler: `async def handler(stream: Stream) -> None`.
StreamHandler = Callable[[Stream], Awaitable[None]]


@dataclass(frozen=True)
class PeerInfo:
    """What the peer store knows of a peer (mostly learned by identify)."""

    peer_id: str
    addrs: list[str]
    protocols: list[str]
    agent_version: str | None
    protocol_version: str | None
    public_key: bytes | None
    #: The addresses of its latest verified signed peer record, if any.
    peer_record_addrs: list[str] | None


#: The standard IPFS (Amino DHT) bootstrap peers (kubo's default list), for
#: `Node.bootstrap`; never used unless passed to it.
IPFS_BOOTSTRAP: list[str] = list(_native.IPFS_BOOTSTRAP)


@dataclass(frozen=True)
class PerfResult:
    """What one `/perf/1.0.0` run measured."""

    upload_bytes: int
    download_bytes: int
    #: From the first byte sent to our write side closed.
    upload_seconds: float
    #: From our write side closed to the last byte received.
    download_seconds: float


@dataclass(frozen=True)
class PerfServerStats:
    """What a node's `/perf/1.0.0` server has done, counted on its side
    (all 0 when the node does not serve perf)."""

    #: Exchanges served to the end.
    served: int
    #: Exchanges that failed: refused over the bound, stalled or broken.
    failed: int
    #: Upload bytes drained by the served exchanges.
    bytes_received: int
    #: Bytes sent back by the served exchanges.
    bytes_sent: int


@dataclass(frozen=True)
class RendezvousRegistration:
    """A peer found through a rendezvous point (its signed record verified)."""

    peer: str
    namespace: str
    #: From the peer's signed peer record.
    addrs: list[str]
    #: Seconds the registration still lives.
    ttl_seconds: float


@dataclass(frozen=True)
class AutonatConfig:
    """AutoNAT v2 settings for `Node(autonat=...)` (`autonat=True` is this
    with its defaults)."""

    #: Dial back the addresses other peers ask about.
    server: bool = True
    #: Ask connected AutoNAT servers to dial our own candidate addresses;
    #: one that enough servers reach becomes a confirmed external address.
    client: bool = True
    #: Dial and probe loopback and private-network addresses (the spec says
    #: not to; for tests and all-private networks).
    allow_private_addresses: bool = False
    #: Distinct servers that must reach an address to confirm it.
    confirmations: int = 3
    #: Seconds between probing rounds while some candidate has no verdict
    #: (the first round comes this long after start).
    probe_interval: float = 15.0


@dataclass(frozen=True)
class ResourceLimits:
    """Resource limits for `Node(resource_limits=...)`; None keeps the
    default (scaled from the machine's memory and descriptor limit). Over a
    limit a connection is closed, a stream reset, a dial or `new_stream`
    raises `LimitReached`, and a `ResourceLimitExceeded` event says which."""

    #: Connections in total, set up or being set up.
    max_connections: int | None = None
    #: Connections to one peer.
    max_connections_per_peer: int | None = None
    #: Connections from one IPv4 address (one IPv6 /56); loopback is exempt.
    max_connections_per_ip: int | None = None
    #: Streams in total.
    max_streams: int | None = None
    #: Streams with one peer.
    max_streams_per_peer: int | None = None
    #: Bytes connections and streams may reserve in total.
    max_memory: int | None = None


@dataclass(frozen=True)
class ConnManager:
    """Connection manager settings for `Node(conn_manager=...)`: above
    `high` connections, the least valuable (lowest sum of `Node.tag_peer`
    values, never protected, never younger than `grace_period` seconds) are
    closed until `low` are left. `high=0` turns trimming off."""

    low: int = 160
    high: int = 192
    grace_period: float = 60.0


@dataclass(frozen=True)
class ConnectionEstablished:
    """A connection finished its upgrade."""

    peer: str
    connection: int
    addr: str
    outbound: bool


@dataclass(frozen=True)
class ConnectionClosed:
    """A connection closed."""

    peer: str
    connection: int
    addr: str


@dataclass(frozen=True)
class NewListenAddr:
    """The node listens on a new address (without /p2p/)."""

    addr: str


@dataclass(frozen=True)
class ExpiredListenAddr:
    """The node no longer listens on an address."""

    addr: str


@dataclass(frozen=True)
class Identified:
    """A peer answered identify (or pushed an update); verified."""

    peer: str
    public_key: bytes
    protocol_version: str
    agent_version: str
    listen_addrs: list[str]
    observed_addr: str | None
    protocols: list[str]


@dataclass(frozen=True)
class Discovered:
    """mDNS found a peer, or new addresses of it (now in the peer store, so
    the peer can be dialed by its ID)."""

    peer: str
    #: The addresses found (without /p2p/).
    addrs: list[str]


@dataclass(frozen=True)
class ExternalAddrConfirmed:
    """An address was confirmed as one others reach this node on (by
    AutoNAT, or with `Node.add_external_address`); it is now announced."""

    #: Without /p2p/.
    addr: str


@dataclass(frozen=True)
class ExternalAddrExpired:
    """An address is no longer a confirmed external address."""

    addr: str


@dataclass(frozen=True)
class ResourceLimitExceeded:
    """A resource limit refused a connection or a stream."""

    #: The kind of scope: "system", "transient", "allowlisted", "peer",
    #: "protocol", "service", "connection", "stream" or "subnet".
    scope: str
    #: The peer, when the scope is "peer".
    peer: str | None
    #: "conns_inbound", "conns_outbound", "conns", "streams_inbound",
    #: "streams_outbound", "streams", "memory" or "fds".
    resource: str
    limit: int
    #: What the scope held when it refused.
    current: int


Event = Union[
    ConnectionEstablished,
    ConnectionClosed,
    NewListenAddr,
    ExpiredListenAddr,
    Identified,
    Discovered,
    ExternalAddrConfirmed,
    ExternalAddrExpired,
    ResourceLimitExceeded,
]

_EVENT_TYPES: dict[str, Any] = {
    "connection_established": ConnectionEstablished,
    "connection_closed": ConnectionClosed,
    "new_listen_addr": NewListenAddr,
    "expired_listen_addr": ExpiredListenAddr,
    "identified": Identified,
    "discovered": Discovered,
    "external_addr_confirmed": ExternalAddrConfirmed,
    "external_addr_expired": ExternalAddrExpired,
    "resource_limit_exceeded": ResourceLimitExceeded,
}


def _event(raw: dict[str, Any]) -> Event:
    fields = dict(raw)
    cls = _EVENT_TYPES[fields.pop("type")]
    event: Event = cls(**fields)
    return event


class _Events:
    """An async iterator over one subscription to a node's events."""

    __slots__ = ("_native",)

    def __init__(self, native: _native.Events) -> None:
        self._native = native

    def __aiter__(self) -> _Events:
        return self

    async def __anext__(self) -> Event:
        raw = await self._native.next()
        if raw is None:
            raise StopAsyncIteration
        return _event(raw)


class Kad:
    """The Kademlia DHT (`/ipfs/kad/1.0.0`, the IPFS Amino DHT) on a node:
    `kad = node.kad(mode="server")`. Keys and values are bytes; records are
    validated by namespace (`/pk/<peer id>`, `/ipns/<peer id>`; other
    namespaces are refused with `InvalidArgument`). An empty routing table,
    or no peer storing, raises `NoRoute`. The DHT runs while the node does."""

    __slots__ = ("_native",)

    def __init__(self, native: _native.Kad) -> None:
        self._native = native

    async def add_bootstrap_peer(self, addr: str) -> str:
        """Connects to a DHT peer at `addr` (ending in /p2p/<id>) and adds it
        to the routing table. Returns its peer ID; raises
        `ProtocolNotSupported` if it does not serve the DHT."""
        return await self._native.add_bootstrap_peer(addr)

    async def bootstrap(self) -> int:
        """Fills the routing table (a lookup of our own ID and of a random
        key). Returns the table's size."""
        return await self._native.bootstrap()

    async def put_value(self, key: bytes, value: bytes) -> int:
        """Validates and stores a record locally and on the closest peers.
        Returns how many peers stored it."""
        return await self._native.put_value(bytes(key), bytes(value))

    async def get_value(self, key: bytes, quorum: int = 1) -> bytes | None:
        """The best valid record under `key` once `quorum` peers (our own
        store counting as one) returned one; None if nobody has it."""
        return await self._native.get_value(bytes(key), quorum)

    async def provide(self, key: bytes) -> int:
        """Announces this node as a provider of `key` (republished every
        22 h). Returns how many peers were told."""
        return await self._native.provide(bytes(key))

    async def providers(self, key: bytes, limit: int = 20) -> list[tuple[str, list[str]]]:
        """Up to `limit` providers of `key`, each `(peer, addrs)`; their
        addresses go to the peer store."""
        return await self._native.providers(bytes(key), limit)

    async def find_peer(self, peer: str) -> list[str] | None:
        """The addresses of `peer`: the peer store's, else a DHT lookup's;
        None if not found."""
        return await self._native.find_peer(peer)

    def routing_table(self) -> list[str]:
        """Peers in the routing table."""
        return self._native.routing_table()

    @property
    def mode(self) -> str:
        """The mode the DHT was started with: "client", "server" or "auto"."""
        return self._native.mode

    @property
    def is_server(self) -> bool:
        """Whether the DHT serves the protocol now: always in "server" mode,
        never in "client" mode, and in "auto" mode while the node has a
        confirmed external address (it follows a change shortly after)."""
        return self._native.is_server


class Node:
    """A libp2p node: TCP, Noise, yamux, identify, ping, a peer store.

    `async with Node(listen=[...]) as node:` or `node = await Node.start(...)`
    then `await node.close()`. The node binds its listen addresses when
    constructed; `listen_addrs` then holds dialable addresses.

    Options: `identity` (a `Keypair`; default a fresh Ed25519 key),
    `agent_version` (sent in identify), `connection_timeout` and
    `stream_timeout` (seconds; each connection set-up step, and each stream
    opening or protocol exchange), `mdns` (True: find peers on the local
    network by mDNS, as `Discovered` events, and be found; runs on the IPv4
    interfaces of the listen addresses), `autonat` (True or an
    `AutonatConfig`: AutoNAT v2, which serves other peers' reachability
    checks and confirms our own reachable addresses, as
    `ExternalAddrConfirmed` events; a DHT in "auto" mode then serves),
    `resource_limits` (a `ResourceLimits`), `conn_manager` (a `ConnManager`),
    `allowlist` (networks whose connections skip the connection limits:
    "/ip4/10.0.0.0/ipcidr/8", optionally ending in "/p2p/<peer>"),
    `perf` (True: serve `/perf/1.0.0`; off by default, as the perf spec
    says, since a client makes the server send as many bytes as it asks for)
    and `perf_max_request_bytes` (the most bytes one perf request may ask for
    or upload; default 16 GiB; a larger request is refused).
    """

    def __init__(
        self,
        listen: Sequence[str] = (),
        *,
        identity: Keypair | None = None,
        agent_version: str | None = None,
        connection_timeout: float | None = None,
        stream_timeout: float | None = None,
        mdns: bool = False,
        autonat: bool | AutonatConfig = False,
        resource_limits: ResourceLimits | None = None,
        conn_manager: ConnManager | None = None,
        allowlist: Sequence[str] = (),
        perf: bool = False,
        perf_max_request_bytes: int | None = None,
    ) -> None:
        if isinstance(listen, str):
            raise InvalidArgument("listen takes a list of multiaddrs, not one string")
        if autonat is True:
            autonat = AutonatConfig()
        elif autonat is False:
            autonat = AutonatConfig(server=False, client=False)
        elif not isinstance(autonat, AutonatConfig):
            raise InvalidArgument("autonat takes a bool or an lp2p.AutonatConfig")
        if resource_limits is not None and not isinstance(resource_limits, ResourceLimits):
            raise InvalidArgument("resource_limits takes an lp2p.ResourceLimits")
        if conn_manager is not None and not isinstance(conn_manager, ConnManager):
            raise InvalidArgument("conn_manager takes an lp2p.ConnManager")
        if isinstance(allowlist, str):
            raise InvalidArgument("allowlist takes a list of multiaddrs, not one string")
        limits = (
            None
            if resource_limits is None
            else (
                resource_limits.max_connections,
                resource_limits.max_connections_per_peer,
                resource_limits.max_connections_per_ip,
                resource_limits.max_streams,
                resource_limits.max_streams_per_peer,
                resource_limits.max_memory,
            )
        )
        manager = None if conn_manager is None else (conn_manager.low, conn_manager.high, conn_manager.grace_period)
        self._native = _native.Node(
            list(listen),
            identity._native if identity is not None else None,
            agent_version,
            connection_timeout,
            stream_timeout,
            mdns,
            autonat_server=autonat.server,
            autonat_client=autonat.client,
            autonat_allow_private=autonat.allow_private_addresses,
            autonat_confirmations=autonat.confirmations,
            autonat_probe_interval=autonat.probe_interval,
            limits=limits,
            conn_manager=manager,
            allowlist=list(allowlist),
            perf=perf,
            perf_max_request_bytes=perf_max_request_bytes,
        )
        self._handler_tasks: set[asyncio.Task[None]] = set()
        self._handled: set[str] = set()
        self._closed = False

    @classmethod
    async def start(
        cls,
        listen: Sequence[str] = (),
        *,
        identity: Keypair | None = None,
        agent_version: str | None = None,
        connection_timeout: float | None = None,
        stream_timeout: float | None = None,
        mdns: bool = False,
        autonat: bool | AutonatConfig = False,
        resource_limits: ResourceLimits | None = None,
        conn_manager: ConnManager | None = None,
        allowlist: Sequence[str] = (),
        perf: bool = False,
        perf_max_request_bytes: int | None = None,
    ) -> Node:
        """Starts a node (the same as the constructor, from async code)."""
        return cls(
            listen,
            identity=identity,
            agent_version=agent_version,
            connection_timeout=connection_timeout,
            stream_timeout=stream_timeout,
            mdns=mdns,
            autonat=autonat,
            resource_limits=resource_limits,
            conn_manager=conn_manager,
            allowlist=allowlist,
            perf=perf,
            perf_max_request_bytes=perf_max_request_bytes,
        )

    async def __aenter__(self) -> Node:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def peer_id(self) -> str:
        """Our peer ID."""
        return self._native.peer_id

    @property
    def listen_addrs(self) -> list[str]:
        """Our listen addresses, each ending in /p2p/<our id>."""
        return self._native.listen_addrs

    @property
    def protocols(self) -> list[str]:
        """Protocols this node answers (built-in and handlers)."""
        return self._native.protocols

    async def listen(self, addr: str) -> str:
        """Starts listening on `addr`; returns the bound address with /p2p/."""
        return await self._native.listen(addr)

    async def dial(self, addr: str) -> str:
        """Connects to `addr` (with or without /p2p/<id>); returns the peer ID."""
        return await self._native.dial(addr)

    def set_stream_handler(self, protocol: str, handler: StreamHandler) -> None:
        """Runs `await handler(stream)` for each inbound stream of `protocol`.

        Call it from the event loop that should run the handlers. Each stream
        gets its own task; `close()` cancels the ones still running. A stream
        the handler leaves open is closed when it returns, and reset when it
        raises.
        """
        loop = asyncio.get_running_loop()
        # The callback lives in the engine: it must not hold the Node itself,
        # or the Node could never be collected.
        tasks = self._handler_tasks

        def on_stream(native: _native.Stream) -> None:
            task = loop.create_task(_run_handler(handler, Stream(native)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        self._native.set_stream_handler(protocol, loop, on_stream)
        self._handled.add(protocol)

    def remove_stream_handler(self, protocol: str) -> bool:
        """Stops answering `protocol`; returns whether it had a handler."""
        self._handled.discard(protocol)
        return self._native.remove_stream_handler(protocol)

    async def new_stream(self, peer: str, protocol: str) -> Stream:
        """Opens a stream to `peer` for `protocol` (`ProtocolNotSupported` if it lacks it)."""
        return Stream(await self._native.new_stream(peer, protocol))

    async def ping(self, peer: str) -> float:
        """One ping round trip to `peer`; the RTT in seconds."""
        return await self._native.ping(peer)

    async def perf(self, peer: str, upload_bytes: int, download_bytes: int) -> PerfResult:
        """Measures throughput with `peer` over `/perf/1.0.0`: uploads
        `upload_bytes`, then downloads `download_bytes`."""
        uploaded, downloaded, upload_seconds, download_seconds = await self._native.perf(
            peer, upload_bytes, download_bytes
        )
        return PerfResult(uploaded, downloaded, upload_seconds, download_seconds)

    def perf_server_stats(self) -> PerfServerStats:
        """What this node's perf server has served (all 0 when perf is off)."""
        return PerfServerStats(*self._native.perf_server_stats())

    def kad(self, *, mode: str | None = None, server: bool | None = None, protocol: str | None = None) -> Kad:
        """Starts the Kademlia DHT on this node (once per node). `mode`:
        "server" serves and announces the protocol (other peers add us to
        their routing tables), "client" only queries, "auto" (the default)
        serves while the node has a confirmed external address (see
        `add_external_address` and AutoNAT). `server=True`/`False` is the
        older spelling of "server"/"client" (not together with `mode`).
        `protocol` replaces `/ipfs/kad/1.0.0` (e.g. `/ipfs/lan/kad/1.0.0`)."""
        return Kad(_native.Kad(self._native, mode, protocol, server=server))

    def serve_rendezvous(self) -> None:
        """Makes this node a rendezvous point (`/rendezvous/1.0.0`) with the
        spec's recommended limits (TTL 2 h to 72 h, namespaces up to 255
        bytes, 1,000 registrations per peer, 1,000 per answer)."""
        self._native.serve_rendezvous()

    async def rendezvous_register(self, peer: str, namespace: str, ttl: float | None = None) -> float:
        """Registers this node under `namespace` at the rendezvous point
        `peer` (with its signed peer record). `ttl` in seconds, None for the
        point's default (2 h). Returns the TTL the point granted; register
        again before it runs out. A refusal raises `ProtocolError` naming the
        point's status (e.g. `E_INVALID_TTL`)."""
        return await self._native.rendezvous_register(peer, namespace, ttl)

    async def rendezvous_unregister(self, peer: str, namespace: str) -> None:
        """Removes this node's registration under `namespace` at `peer` (the
        protocol has no answer: this returns once the request is sent)."""
        await self._native.rendezvous_unregister(peer, namespace)

    async def rendezvous_discover(
        self,
        peer: str,
        namespace: str | None = None,
        *,
        limit: int | None = None,
        cookie: bytes | None = None,
    ) -> tuple[list[RendezvousRegistration], bytes | None]:
        """Asks the rendezvous point `peer` who is registered under
        `namespace` (None: every namespace), at most `limit`. Returns the
        registrations whose signed records verified, and a cookie: pass it
        back to get only newer registrations. The addresses found go to the
        peer store, so the peers can be reached by peer ID."""
        raw, next_cookie = await self._native.rendezvous_discover(peer, namespace, limit, cookie)
        return [RendezvousRegistration(p, ns, addrs, ttl) for p, ns, addrs, ttl in raw], next_cookie

    async def bootstrap(self, addrs: Sequence[str]) -> list[str]:
        """Dials the bootstrap list `addrs` (multiaddrs, usually ending in
        /p2p/<id>; `/dnsaddr/` ones are resolved through DNS TXT records, and
        `lp2p.IPFS_BOOTSTRAP` is the standard IPFS list, never used unless
        passed here). Returns the peers connected; raises `NoRoute` when the
        list is empty, does not resolve, or no peer of it is reachable."""
        if isinstance(addrs, str):
            raise InvalidArgument("bootstrap takes a list of multiaddrs, not one string")
        return await self._native.bootstrap(list(addrs))

    def is_connected(self, peer: str) -> bool:
        """Whether a connection to `peer` is open."""
        return self._native.is_connected(peer)

    def connected_peers(self) -> list[str]:
        """Peers with an open connection."""
        return self._native.connected_peers()

    def known_peers(self) -> list[str]:
        """Every peer the peer store knows."""
        return self._native.known_peers()

    def peer_info(self, peer: str) -> PeerInfo | None:
        """What the peer store knows of `peer` (identify results), or None."""
        raw = self._native.peer_info(peer)
        return None if raw is None else PeerInfo(**raw)

    def add_addresses(self, peer: str, addrs: Sequence[str], ttl: float = 3600.0) -> None:
        """Tells the peer store where `peer` is, so `new_stream` can dial it by ID."""
        self._native.add_addresses(peer, list(addrs), ttl)

    @property
    def external_addrs(self) -> list[str]:
        """Addresses others reach this node on, as confirmed by AutoNAT or
        added with `add_external_address` (without /p2p/); announced in
        identify and in the signed peer record."""
        return self._native.external_addrs

    def add_external_address(self, addr: str) -> bool:
        """Declares `addr` (e.g. a forwarded port, or a public IP known from
        configuration) a confirmed external address; returns whether it is
        new. A new one raises `ExternalAddrConfirmed` and turns a DHT in
        "auto" mode to server mode."""
        return self._native.add_external_address(addr)

    def remove_external_address(self, addr: str) -> bool:
        """Removes a confirmed external address (raising
        `ExternalAddrExpired`); returns whether it was one."""
        return self._native.remove_external_address(addr)

    def tag_peer(self, peer: str, tag: str, value: int) -> None:
        """Sets `peer`'s tag `tag` to `value`: over the high watermark, the
        connection manager closes the connections of peers with the lowest
        sum of tags first. Tags are forgotten when the peer's last
        connection closes."""
        self._native.tag_peer(peer, tag, value)

    def untag_peer(self, peer: str, tag: str) -> None:
        """Removes `peer`'s tag `tag`."""
        self._native.untag_peer(peer, tag)

    def protect_peer(self, peer: str, tag: str) -> None:
        """Keeps the connection manager from closing `peer`'s connections
        while protected under `tag`."""
        self._native.protect_peer(peer, tag)

    def unprotect_peer(self, peer: str, tag: str) -> bool:
        """Removes protection `tag` from `peer`; returns whether another
        tag still protects it."""
        return self._native.unprotect_peer(peer, tag)

    def is_protected(self, peer: str, tag: str | None = None) -> bool:
        """Whether `peer` is protected under `tag` (under any tag if None)."""
        return self._native.is_protected(peer, tag)

    def events(self) -> AsyncIterator[Event]:
        """The node's events from now on (subscribed at this call), until the
        node closes: `async for event in node.events()`.

        A subscriber that falls far behind skips the oldest events.
        """
        return _Events(self._native.events())

    async def close(self) -> None:
        """Cancels running handlers, closes connections and stops the node.

        Later calls on the node raise `NodeClosed`; calling it again does nothing.
        """
        if self._closed:
            return
        self._closed = True
        # Removing the handlers first also frees the Python callbacks the engine holds.
        for protocol in list(self._handled):
            self.remove_stream_handler(protocol)
        tasks = list(self._handler_tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._native.close()

    def __repr__(self) -> str:
        return f"<Node peer_id={self.peer_id}>"


async def _run_handler(handler: StreamHandler, stream: Stream) -> None:
    try:
        await handler(stream)
    except asyncio.CancelledError:
        stream.reset()
        raise
    except Exception:
        _log.exception("stream handler for %s failed", stream.protocol)
        stream.reset()
    else:
        try:
            await stream.close()
        except (StreamClosed, StreamReset):
            pass
