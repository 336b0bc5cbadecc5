"""An echo client: dials, pings, sends a message over /echo/1.0.0 and checks
that it comes back.

    python examples/echo_client.py MULTIADDR [MESSAGE]

Exits 1 if the echo differs. Works against examples/echo_server.py,
`lp2p-node listen` and any libp2p peer serving /echo/1.0.0.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import lp2p

ECHO = "/echo/1.0.0"


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("addr", help="the server's multiaddr, ending in /p2p/<peer id>")
    parser.add_argument("message", nargs="?", default="hello from Python")
    args = parser.parse_args()
    async with lp2p.Node() as node:
        peer = await node.dial(args.addr)
        rtt = await node.ping(peer)
        print(f"connected to {peer}, ping {rtt * 1000:.2f} ms")
        async with await node.new_stream(peer, ECHO) as stream:
            await stream.write(args.message.encode())
            await stream.close()
            back = await asyncio.wait_for(stream.read_all(), 30)
        print(f"echoed: {back.decode(errors='replace')}")
        return 0 if back == args.message.encode() else 1


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except lp2p.Error as e:
        print(f"echo_client: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
