"""An echo server: sends back every byte of each /echo/1.0.0 stream.

    python examples/echo_server.py [--listen MULTIADDR] [--key FILE]

Prints the addresses to dial (one a line), then serves until Ctrl-C.
Compatible with `lp2p-node echo` and examples/echo_client.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os

import lp2p

ECHO = "/echo/1.0.0"


async def echo(stream: lp2p.Stream) -> None:
    while data := await stream.read(65536):
        await stream.write(data)


def identity(path: str | None) -> lp2p.Keypair | None:
    if path is None:
        return None
    if os.path.exists(path):
        return lp2p.Keypair.load(path)
    key = lp2p.Keypair.generate()
    key.save(path)
    return key


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", default="/ip4/127.0.0.1/tcp/0", help="address to listen on")
    parser.add_argument("--key", help="key file (created if missing) for a stable peer ID")
    args = parser.parse_args()
    async with lp2p.Node(listen=[args.listen], identity=identity(args.key)) as node:
        node.set_stream_handler(ECHO, echo)
        for addr in node.listen_addrs:
            print(addr, flush=True)
        async for event in node.events():
            if isinstance(event, lp2p.ConnectionEstablished):
                print(f"connected: {event.peer}", flush=True)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
