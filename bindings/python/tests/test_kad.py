"""The Kademlia DHT between lp2p nodes on loopback: records, providers, peers."""

from __future__ import annotations

import pytest

import lp2p
from helpers import LOOPBACK


def pk_key(peer_id_bytes: bytes) -> bytes:
    return b"/pk/" + peer_id_bytes


async def test_values_providers_and_peers() -> None:
    identity = lp2p.Keypair.generate()
    async with (
        lp2p.Node(listen=[LOOPBACK]) as a,
        lp2p.Node(listen=[LOOPBACK]) as b,
        lp2p.Node(listen=[LOOPBACK], identity=identity) as c,
    ):
        ka, kb, kc = a.kad(server=True), b.kad(server=True), c.kad(server=True)
        assert "/ipfs/kad/1.0.0" in a.protocols
        assert await kb.add_bootstrap_peer(a.listen_addrs[0]) == a.peer_id
        assert await kc.add_bootstrap_peer(a.listen_addrs[0]) == a.peer_id
        assert await kc.bootstrap() >= 1

        # The binary peer ID is the protobuf public key's identity multihash
        # for Ed25519: 0x00, length, key.
        public = identity.public_key
        key = pk_key(bytes([0x00, len(public)]) + public)
        assert await kc.put_value(key, public) >= 1
        assert await kb.get_value(key) == public
        assert await kb.get_value(pk_key(b"\x00\x05nobody")) is None

        # Someone else's key under c's name is refused.
        with pytest.raises(lp2p.InvalidArgument):
            await kc.put_value(key, lp2p.Keypair.generate().public_key)

        content = b"\x12\x20" + b"c" * 32
        assert await ka.provide(content) >= 1
        found = await kc.providers(content, 5)
        assert a.peer_id in [peer for peer, _ in found]

        addrs = await kc.find_peer(b.peer_id)
        assert addrs is not None and addrs
        assert a.peer_id in kb.routing_table()


async def test_client_mode_and_an_empty_table() -> None:
    async with lp2p.Node(listen=[LOOPBACK]) as a:
        ka = a.kad()
        assert "/ipfs/kad/1.0.0" not in a.protocols
        with pytest.raises(lp2p.NoRoute):
            await ka.bootstrap()
        with pytest.raises(lp2p.NoRoute):
            await ka.find_peer(lp2p.Keypair.generate().peer_id)
        with pytest.raises(lp2p.InvalidPeerId):
            await ka.find_peer("not a peer id")
