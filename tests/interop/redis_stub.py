"""A tiny stand-in for the Redis server of libp2p's transport-interop tests:
just the commands that contract uses (RPUSH, BLPOP, plus PING and DEL), over
RESP on loopback, so lp2p-node's transport-interop mode can be tested with no
Redis installed. Standard library only.

  python3 redis_stub.py [--seconds N]
      prints the port it listens on (127.0.0.1), serves until N seconds
      (default 300) have passed, then exits
"""

import argparse
import asyncio
import sys

MAX_LIST = 1024
MAX_ARGS = 64
MAX_BULK = 1 << 20


class Store:
    def __init__(self):
        self.lists = {}
        self.changed = asyncio.Condition()

    async def rpush(self, key, values):
        async with self.changed:
            items = self.lists.setdefault(key, [])
            if len(items) + len(values) > MAX_LIST:
                return b"-ERR list full\r\n"
            items.extend(values)
            self.changed.notify_all()
            return b":%d\r\n" % len(items)

    async def blpop(self, keys, timeout):
        async def pop():
            async with self.changed:
                while True:
                    for key in keys:
                        if self.lists.get(key):
                            return key, self.lists[key].pop(0)
                    await self.changed.wait()

        try:
            key, value = await asyncio.wait_for(pop(), timeout if timeout > 0 else None)
        except asyncio.TimeoutError:
            return b"*-1\r\n"
        return b"*2\r\n" + bulk(key) + bulk(value)


def bulk(b):
    return b"$%d\r\n%s\r\n" % (len(b), b)


async def read_command(reader):
    """One RESP array of bulk strings, as clients send commands."""
    line = await reader.readline()
    if not line:
        return None
    if not line.startswith(b"*"):
        return line.split()  # inline command
    n = int(line[1:])
    if not 0 < n <= MAX_ARGS:
        raise ValueError("bad argument count")
    args = []
    for _ in range(n):
        head = await reader.readline()
        if not head.startswith(b"$"):
            raise ValueError("expected a bulk string")
        size = int(head[1:])
        if not 0 <= size <= MAX_BULK:
            raise ValueError("bad bulk length")
        data = await reader.readexactly(size + 2)
        args.append(data[:-2])
    return args


async def serve(store, reader, writer):
    try:
        while (cmd := await read_command(reader)) is not None:
            name = cmd[0].upper() if cmd else b""
            if name == b"PING":
                reply = b"+PONG\r\n"
            elif name == b"RPUSH" and len(cmd) >= 3:
                reply = await store.rpush(cmd[1], cmd[2:])
            elif name == b"BLPOP" and len(cmd) >= 3:
                reply = await store.blpop(cmd[1:-1], float(cmd[-1]))
            elif name == b"DEL" and len(cmd) >= 2:
                reply = b":%d\r\n" % sum(store.lists.pop(k, None) is not None for k in cmd[1:])
            else:
                reply = b"-ERR unsupported command\r\n"
            writer.write(reply)
            await writer.drain()
    except (ValueError, ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main(seconds):
    store = Store()
    server = await asyncio.start_server(lambda r, w: serve(store, r, w), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await asyncio.sleep(seconds)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=300)
    asyncio.run(main(ap.parse_args().seconds))
    sys.exit(0)
