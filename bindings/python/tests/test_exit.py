"""The interpreter exits cleanly while the engine is busy or nodes are left
open: no engine thread may touch Python during finalization."""

from __future__ import annotations

import asyncio
import sys

SCRIPT = """
import asyncio, lp2p

async def echo(stream):
    while data := await stream.read(65536):
        await stream.write(data)

async def main():
    server = lp2p.Node(listen=["/ip4/127.0.0.1/tcp/0"])
    server.set_stream_handler("/echo/1.0.0", echo)
    client = lp2p.Node()
    peer = await client.dial(server.listen_addrs[0])
    await client.ping(peer)
    stream = await client.new_stream(peer, "/echo/1.0.0")
    await stream.write(b"x" * 100000)
    await stream.read(10)
    # Exit with both nodes and the stream still open, data in flight.
    print("done", flush=True)

asyncio.run(main())
"""


async def _run_once() -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SCRIPT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_exit_with_open_nodes_is_clean() -> None:
    for _ in range(3):
        results = await asyncio.gather(*(_run_once() for _ in range(4)))
        for code, out, err in results:
            assert code == 0, err
            assert out.strip() == "done"
            assert "Fatal Python error" not in err
