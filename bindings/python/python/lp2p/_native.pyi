"""The native layer of lp2p (pyo3). Private: use the `lp2p` package.

Awaitables returned here are asyncio futures bridged from Rust futures;
cancelling one drops the Rust future.
"""

from collections.abc import Awaitable, Callable
from typing import Any, final

__all__ = [
    "IPFS_BOOTSTRAP",
    "Error",
    "InvalidArgument",
    "InvalidMultiaddr",
    "InvalidPeerId",
    "InvalidKey",
    "DialError",
    "ProtocolNotSupported",
    "Timeout",
    "NoRoute",
    "PeerIdMismatch",
    "LimitReached",
    "ProtocolError",
    "StreamClosed",
    "StreamReset",
    "IoError",
    "NodeClosed",
    "InternalError",
    "Kad",
    "Keypair",
    "Node",
    "Events",
    "Stream",
    "shutdown",
]

class Error(Exception):
    """Base class of every lp2p error."""

class InvalidArgument(Error):
    """An argument was out of range or malformed."""

class InvalidMultiaddr(Error):
    """A multiaddr string did not parse."""

class InvalidPeerId(Error):
    """A peer ID string did not parse."""

class InvalidKey(Error):
    """Key bytes did not decode."""

class DialError(Error):
    """Dialing or upgrading a connection failed."""

class ProtocolNotSupported(Error):
    """The remote does not support the protocol."""

class Timeout(Error):
    """An operation took longer than its timeout."""

class NoRoute(Error):
    """No connection to the peer and no known address for it."""

class PeerIdMismatch(Error):
    """The remote is not the peer the address named."""

class LimitReached(Error):
    """A connection limit was reached."""

class ProtocolError(Error):
    """A protocol exchange on an open connection failed."""

class StreamClosed(Error):
    """The stream (or its write side) is closed."""

class StreamReset(Error):
    """The stream was reset, by us or by the remote."""

class IoError(Error):
    """An I/O error."""

class NodeClosed(Error):
    """The node is shut down."""

class InternalError(Error):
    """A bug in lp2p."""

IPFS_BOOTSTRAP: list[str]

@final
class Keypair:
    """A node's identity key pair."""

    @staticmethod
    def generate(key_type: str = "ed25519") -> Keypair:
        """A fresh key of `key_type`: "ed25519" (default), "ecdsa" or "secp256k1"."""

    @staticmethod
    def from_protobuf(data: bytes) -> Keypair:
        """Decodes the libp2p protobuf encoding of a private key."""

    def to_protobuf(self) -> bytes:
        """The libp2p protobuf encoding of the private key (secret: store it safely)."""

    @property
    def peer_id(self) -> str:
        """The peer ID of this key."""

    @property
    def public_key(self) -> bytes:
        """The public key, protobuf-encoded."""

@final
class Stream:
    """A bidirectional stream to a peer for one protocol."""

    @property
    def peer(self) -> str:
        """The remote peer's ID."""

    @property
    def protocol(self) -> str:
        """The negotiated protocol."""

    def read(self, n: int) -> Awaitable[bytes]:
        """Reads up to `n` bytes (at least 1 unless the stream ended: then b"")."""

    def read_exactly(self, n: int) -> Awaitable[bytes]:
        """Reads exactly `n` bytes; `StreamClosed` if the stream ends first."""

    def write(self, data: bytes) -> Awaitable[None]:
        """Writes all of `data`; completes once the engine has taken it all."""

    def close(self) -> Awaitable[None]:
        """Closes the write side (the remote reads the end); reading goes on."""

    def reset(self) -> None:
        """Aborts both directions now; pending and later reads and writes raise `StreamReset`."""

@final
class Events:
    """A subscription to a node's events."""

    def next(self) -> Awaitable[dict[str, Any] | None]:
        """The next event as a dict with a "type" key; None once the node is gone."""

@final
class Node:
    """A running libp2p node."""

    def __new__(
        cls,
        listen: list[str],
        identity: Keypair | None = None,
        agent_version: str | None = None,
        connection_timeout: float | None = None,
        stream_timeout: float | None = None,
        mdns: bool = False,
        *,
        autonat_server: bool = False,
        autonat_client: bool = False,
        autonat_allow_private: bool = False,
        autonat_confirmations: int | None = None,
        autonat_probe_interval: float | None = None,
        limits: tuple[int | None, int | None, int | None, int | None, int | None, int | None] | None = None,
        conn_manager: tuple[int, int, float] | None = None,
        allowlist: list[str] = ...,
        perf: bool = False,
        perf_max_request_bytes: int | None = None,
    ) -> Node:
        """Starts a node: binds every listen address before returning."""

    @property
    def peer_id(self) -> str:
        """Our peer ID."""

    @property
    def listen_addrs(self) -> list[str]:
        """Our listen addresses, each ending in `/p2p/<our id>`."""

    @property
    def protocols(self) -> list[str]:
        """Protocols this node answers."""

    def listen(self, addr: str) -> Awaitable[str]:
        """Starts listening on `addr`; resolves to the bound address (with `/p2p/`)."""

    def dial(self, addr: str) -> Awaitable[str]:
        """Connects to `addr`; resolves to the remote peer ID."""

    def set_stream_handler(self, protocol: str, event_loop: Any, callback: Callable[[Stream], None]) -> None:
        """Routes inbound streams of `protocol` to `callback(stream)`, called on `event_loop`."""

    def remove_stream_handler(self, protocol: str) -> bool:
        """Removes the handler of `protocol`; whether there was one."""

    def new_stream(self, peer: str, protocol: str) -> Awaitable[Stream]:
        """Opens a stream to `peer` for `protocol`; resolves to a `Stream`."""

    def ping(self, peer: str) -> Awaitable[float]:
        """One ping round trip to `peer`; resolves to the RTT in seconds."""

    def perf(self, peer: str, upload_bytes: int, download_bytes: int) -> Awaitable[tuple[int, int, float, float]]:
        """One `/perf/1.0.0` run with `peer`: uploads `upload_bytes`, then
        downloads `download_bytes`; resolves to `(upload_bytes,
        download_bytes, upload_seconds, download_seconds)` as measured."""

    def perf_server_stats(self) -> tuple[int, int, int, int]:
        """What this node's perf server has served: `(served, failed,
        bytes_received, bytes_sent)`, all 0 when perf is off."""

    def serve_rendezvous(self) -> None:
        """Makes this node a rendezvous point with the spec's recommended limits."""

    def rendezvous_register(self, peer: str, namespace: str, ttl: float | None = None) -> Awaitable[float]:
        """Registers under `namespace` at the point `peer`; resolves to the granted TTL in seconds."""

    def rendezvous_unregister(self, peer: str, namespace: str) -> Awaitable[None]:
        """Removes the registration under `namespace` at `peer`."""

    def rendezvous_discover(
        self, peer: str, namespace: str | None = None, limit: int | None = None, cookie: bytes | None = None
    ) -> Awaitable[tuple[list[tuple[str, str, list[str], float]], bytes | None]]:
        """Who is registered at `peer` under `namespace` (None: all); resolves to
        `(registrations, cookie)`, each registration `(peer, namespace, addrs, ttl_seconds)`."""

    def bootstrap(self, addrs: list[str]) -> Awaitable[list[str]]:
        """Dials a bootstrap list; resolves to the peers connected."""

    def is_connected(self, peer: str) -> bool:
        """Whether a connection to `peer` is open."""

    def connected_peers(self) -> list[str]:
        """Peers with an open connection."""

    def known_peers(self) -> list[str]:
        """Every peer the peer store knows."""

    def peer_info(self, peer: str) -> dict[str, Any] | None:
        """What the peer store knows of `peer` (a dict), or None."""

    def add_addresses(self, peer: str, addrs: list[str], ttl: float) -> None:
        """Tells the peer store where `peer` can be reached, for `ttl` seconds."""

    @property
    def external_addrs(self) -> list[str]:
        """Our confirmed external addresses, without `/p2p/`."""

    def add_external_address(self, addr: str) -> bool:
        """Declares `addr` a confirmed external address; whether it is new."""

    def remove_external_address(self, addr: str) -> bool:
        """Removes a confirmed external address; whether it was one."""

    def tag_peer(self, peer: str, tag: str, value: int) -> None:
        """Sets `peer`'s tag `tag` to `value` (the connection manager closes lower-valued peers first)."""

    def untag_peer(self, peer: str, tag: str) -> None:
        """Removes `peer`'s tag `tag`."""

    def protect_peer(self, peer: str, tag: str) -> None:
        """Protects `peer` from the connection manager under `tag`."""

    def unprotect_peer(self, peer: str, tag: str) -> bool:
        """Removes protection `tag`; whether another tag still protects `peer`."""

    def is_protected(self, peer: str, tag: str | None = None) -> bool:
        """Whether `peer` is protected under `tag` (any tag if None)."""

    def events(self) -> Events:
        """A new subscription to the node's events, from now on."""

    def close(self) -> Awaitable[None]:
        """Closes listeners and connections and stops the node's tasks."""

@final
class Kad:
    """The Kademlia DHT on a node."""

    def __new__(
        cls, node: Node, mode: str | None = None, protocol: str | None = None, *, server: bool | None = None
    ) -> Kad: ...
    @property
    def mode(self) -> str:
        """The mode the DHT was started with: "client", "server" or "auto"."""

    @property
    def is_server(self) -> bool:
        """Whether the DHT serves the protocol now."""

    def add_bootstrap_peer(self, addr: str) -> Awaitable[str]:
        """Adds a DHT peer (multiaddr with /p2p/); resolves to its peer ID."""

    def bootstrap(self) -> Awaitable[int]:
        """Fills the routing table; resolves to its size."""

    def put_value(self, key: bytes, value: bytes) -> Awaitable[int]:
        """Stores a record; resolves to how many peers stored it."""

    def get_value(self, key: bytes, quorum: int = 1) -> Awaitable[bytes | None]:
        """The best valid record under `key`, or None."""

    def provide(self, key: bytes) -> Awaitable[int]:
        """Announces this node as a provider; resolves to how many peers were told."""

    def providers(self, key: bytes, limit: int = 20) -> Awaitable[list[tuple[str, list[str]]]]:
        """Providers of `key`, each `(peer, addrs)`."""

    def find_peer(self, peer: str) -> Awaitable[list[str] | None]:
        """The addresses of `peer`, or None."""

    def routing_table(self) -> list[str]:
        """Peers in the routing table."""

def shutdown() -> None:
    """Stops the engine's runtime (registered with `atexit`): afterwards no
    engine thread touches Python while the interpreter finalizes."""
