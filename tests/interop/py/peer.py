"""The py-libp2p peer of the lp2p interop matrix (versions pinned in
requirements.txt).

  python peer.py listen [--transport tcp --security noise --muxer yamux|mplex]
      prints {"peer_id":..,"addrs":[..]} and serves ping, identify and
      /echo/1.0.0 until killed
  python peer.py dial MULTIADDR [--transport T --security S --muxer M]
      dials, then checks handshake+one RTT, ping, identify, a 10 MiB echo and
      50 concurrent echo streams; one JSON line per check; exit 0 only when
      every check passed

The contract is the same for every peer of tests/interop (see README.md).
"""

import json
import sys
import time

import multiaddr
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.x25519 import create_new_key_pair as create_new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.host.ping import ID as PING_ID
from libp2p.host.ping import PingService
from libp2p.identity.identify.identify import ID as IDENTIFY_ID
from libp2p.identity.identify.pb.identify_pb2 import Identify
from libp2p.network.stream.exceptions import StreamEOF
from libp2p.peer.envelope import consume_envelope
from libp2p.peer.peer_record import PEER_RECORD_ENVELOPE_DOMAIN
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.mplex.mplex import MPLEX_PROTOCOL_ID, Mplex
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from libp2p.utils.varint import read_length_prefixed_protobuf

ECHO = TProtocol("/echo/1.0.0")
ECHO_BYTES = 10 << 20
STREAM_COUNT = 50
STREAM_BYTES = 64 << 10
STEP_TIMEOUT_S = 30
CHUNK = 64 << 10


def fail(msg: str) -> None:
    sys.stderr.write(f"py-peer: {msg}\n")
    sys.exit(1)


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


MUXERS = {"yamux": (YAMUX_PROTOCOL_ID, Yamux), "mplex": (MPLEX_PROTOCOL_ID, Mplex)}


def parse_combo(args: list[str]) -> dict:
    """Refuses what this peer does not build, so the driver never mistakes an
    unsupported combination for a pass. Built: tcp, noise, yamux or mplex."""
    combo = {"transport": "tcp", "security": "noise", "muxer": "yamux"}
    if len(args) % 2:
        fail(f"option {args[-1]} needs a value")
    for key, value in zip(args[0::2], args[1::2]):
        name = key.removeprefix("--")
        if name not in combo:
            fail(f"unknown option {key}")
        combo[name] = value
    if combo["transport"] != "tcp" or combo["security"] != "noise" or combo["muxer"] not in MUXERS:
        fail(f"unsupported combination {combo}")
    return combo


def make_host(combo: dict):
    key_pair = create_new_key_pair()
    noise = NoiseTransport(key_pair, noise_privkey=create_new_x25519_key_pair().private_key)
    muxer_id, muxer = MUXERS[combo["muxer"]]
    host = new_host(
        key_pair=key_pair,
        sec_opt={NOISE_PROTOCOL_ID: noise},
        muxer_opt={TProtocol(muxer_id): muxer},
    )
    host.set_stream_handler(ECHO, serve_echo)
    return host


async def read_all(stream, limit: int) -> bytes:
    """Reads until the remote closes its write side, at most limit bytes."""
    out = bytearray()
    while len(out) <= limit:
        try:
            chunk = await stream.read(CHUNK)
        except StreamEOF:
            break
        if not chunk:
            break
        out += chunk
    return bytes(out)


async def serve_echo(stream) -> None:
    try:
        while True:
            try:
                chunk = await stream.read(CHUNK)
            except StreamEOF:
                break
            if not chunk:
                break
            await stream.write(chunk)
        await stream.close()
    except Exception:
        await stream.reset()


def pattern(n: int, seed: int) -> bytes:
    return bytes((i * 31 + seed * 7 + i // 251) % 256 for i in range(n))


async def echo(host, peer, n: int, seed: int) -> None:
    """Sends n pattern bytes on one /echo/1.0.0 stream, closes the write side
    and checks the same bytes come back."""
    data = pattern(n, seed)
    with trio.fail_after(STEP_TIMEOUT_S):
        stream = await host.new_stream(peer, [ECHO])
        back = b""

        async def write() -> None:
            for off in range(0, n, CHUNK):
                await stream.write(data[off : off + CHUNK])
            await stream.close()

        async def read() -> None:
            nonlocal back
            back = await read_all(stream, n)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(write)
            nursery.start_soon(read)
    if back != data:
        raise RuntimeError(f"echo returned {len(back)} bytes that differ from the {n} sent")


async def identify(host, peer) -> dict:
    """Asks the peer for identify on a stream of our own and checks the answer;
    the signed peer record is verified with py-libp2p's envelope code."""
    with trio.fail_after(STEP_TIMEOUT_S):
        stream = await host.new_stream(peer, [IDENTIFY_ID])
        data = await read_length_prefixed_protobuf(stream, use_varint_format=True)
        await stream.close()
    msg = Identify()
    msg.ParseFromString(data)
    protocols = list(msg.protocols)
    listen_addrs = [str(multiaddr.Multiaddr(a)) for a in msg.listen_addrs]
    record = "absent"
    if msg.HasField("signedPeerRecord"):
        _, rec = consume_envelope(msg.signedPeerRecord, PEER_RECORD_ENVELOPE_DOMAIN)
        if rec.peer_id != peer:
            raise RuntimeError(f"signed peer record is for {rec.peer_id}, not {peer}")
        record = "verified"
    if not msg.agent_version:
        raise RuntimeError("no agent version")
    for p in ("/ipfs/ping/1.0.0", "/ipfs/id/1.0.0", str(ECHO)):
        if p not in protocols:
            raise RuntimeError(f"protocols {protocols} lack {p}")
    if not listen_addrs:
        raise RuntimeError("no listen addresses")
    return {"agent": msg.agent_version, "protocols": protocols, "listen_addrs": listen_addrs, "signed_record": record}


async def check(name: str, fn) -> bool:
    try:
        extra = await fn()
        emit({"check": name, "ok": True, **extra})
        return True
    except Exception as err:  # every failure becomes a failed check line
        emit({"check": name, "ok": False, "error": f"{type(err).__name__}: {err}"})
        return False


async def dial(addr: str, combo: dict) -> bool:
    info = info_from_p2p_addr(multiaddr.Multiaddr(addr))
    host = make_host(combo)
    pinger = PingService(host)
    async with host.run(listen_addrs=[]):

        async def ping_ms() -> float:
            with trio.fail_after(STEP_TIMEOUT_S):
                start = time.monotonic()
                await pinger.ping(info.peer_id)
                return (time.monotonic() - start) * 1000

        async def handshake() -> dict:
            start = time.monotonic()
            with trio.fail_after(STEP_TIMEOUT_S):
                await host.connect(info)
            # Handshake plus one round trip: the first ping completes it.
            await ping_ms()
            return {"ms": (time.monotonic() - start) * 1000}

        async def ping() -> dict:
            return {"rtt_ms": await ping_ms()}

        async def echo_big() -> dict:
            await echo(host, info.peer_id, ECHO_BYTES, 0)
            return {"bytes": ECHO_BYTES}

        async def streams() -> dict:
            async with trio.open_nursery() as nursery:
                for i in range(STREAM_COUNT):
                    nursery.start_soon(echo, host, info.peer_id, STREAM_BYTES, i + 1)
            return {"count": STREAM_COUNT}

        if not await check("handshake", handshake):
            return False
        ok = await check("ping", ping)
        ok = await check("identify", lambda: identify(host, info.peer_id)) and ok
        ok = await check("echo", echo_big) and ok
        ok = await check("streams", streams) and ok
        return ok


async def listen(combo: dict) -> None:
    host = make_host(combo)
    async with host.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        peer_id = host.get_id()
        addrs = [f"{a}" if "/p2p/" in str(a) else f"{a}/p2p/{peer_id}" for a in host.get_addrs()]
        emit({"peer_id": str(peer_id), "addrs": addrs})
        await trio.sleep_forever()


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["listen"]:
        trio.run(listen, parse_combo(args[1:]))
    elif args[:1] == ["dial"] and len(args) >= 2:
        ok = trio.run(dial, args[1], parse_combo(args[2:]))
        sys.exit(0 if ok else 1)
    else:
        fail("usage: peer.py listen | peer.py dial MULTIADDR [--transport T --security S --muxer M]")


if __name__ == "__main__":
    main()
