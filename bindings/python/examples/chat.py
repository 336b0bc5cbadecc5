"""A line chat over /chat/1.0.0, compatible with `lp2p-node chat`.

    python examples/chat.py --listen /ip4/127.0.0.1/tcp/0    # waits for one peer
    python examples/chat.py MULTIADDR                        # dials one

Lines typed on stdin go to the peer; lines received are printed. End of
input closes our side; the chat ends when both sides have closed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import lp2p

CHAT = "/chat/1.0.0"


async def send_lines(stream: lp2p.Stream) -> None:
    # stdin is read on a thread: a blocking read must not stall the event loop.
    while line := await asyncio.to_thread(sys.stdin.readline):
        await stream.write(line.encode())
    await stream.close()


async def print_lines(stream: lp2p.Stream) -> None:
    pending = b""
    while data := await stream.read(4096):
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            print(f"{stream.peer[-8:]}> {line.decode(errors='replace')}", flush=True)
    if pending:
        print(f"{stream.peer[-8:]}> {pending.decode(errors='replace')}", flush=True)


async def chat(stream: lp2p.Stream) -> None:
    sender = asyncio.create_task(send_lines(stream))
    await print_lines(stream)
    print("the peer closed the chat", file=sys.stderr, flush=True)
    await sender


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("addr", nargs="?", help="a peer to dial")
    parser.add_argument("--listen", help="listen on this address and wait for a peer")
    args = parser.parse_args()
    if (args.addr is None) == (args.listen is None):
        parser.error("give either MULTIADDR or --listen MULTIADDR")
    if args.listen is not None:
        async with lp2p.Node(listen=[args.listen]) as node:
            done = asyncio.get_running_loop().create_future()

            async def on_chat(stream: lp2p.Stream) -> None:
                if done.done():
                    stream.reset()  # one chat at a time
                    return
                try:
                    await chat(stream)
                finally:
                    if not done.done():
                        done.set_result(None)

            node.set_stream_handler(CHAT, on_chat)
            for addr in node.listen_addrs:
                print(f"listening on {addr}", file=sys.stderr, flush=True)
            await done
    else:
        async with lp2p.Node() as node:
            peer = await node.dial(args.addr)
            await chat(await node.new_stream(peer, CHAT))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except lp2p.Error as e:
        print(f"chat: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
