"""The examples run as a user would run them."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from helpers import stop

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


async def _python(script: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / script),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _line(stream: asyncio.StreamReader | None, timeout: float = 20.0) -> str:
    assert stream is not None
    line = await asyncio.wait_for(stream.readline(), timeout)
    assert line, "the example closed its output"
    return line.decode().strip()


async def test_echo_server_and_client() -> None:
    server = await _python("echo_server.py")
    try:
        addr = await _line(server.stdout)
        assert "/p2p/12D3KooW" in addr
        client = await _python("echo_client.py", addr, "hello, examples")
        out, err = await asyncio.wait_for(client.communicate(), 30)
        assert client.returncode == 0, err.decode()
        assert "echoed: hello, examples" in out.decode()
        assert (await _line(server.stdout)).startswith("connected: 12D3KooW")
    finally:
        await stop(server)


async def _chat_between(listener_cmd: asyncio.subprocess.Process, dial: str, *dial_args: str) -> None:
    listener = listener_cmd
    try:
        banner = await _line(listener.stderr)
        assert banner.startswith("listening on "), banner
        addr = banner.removeprefix("listening on ")
        if dial == "python":
            dialer = await _python("chat.py", addr)
        else:
            dialer = await asyncio.create_subprocess_exec(
                dial, *dial_args, addr,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
        assert dialer.stdin is not None and listener.stdin is not None
        dialer.stdin.write(b"hello from the dialer\n")
        await dialer.stdin.drain()
        assert (await _line(listener.stdout)).endswith("> hello from the dialer")
        listener.stdin.write(b"hello from the listener\n")
        await listener.stdin.drain()
        assert "hello from the listener" in await _line(dialer.stdout)
        # End of input on both sides ends both chats.
        dialer.stdin.close()
        listener.stdin.close()
        assert await asyncio.wait_for(listener.wait(), 20) == 0
        assert await asyncio.wait_for(dialer.wait(), 20) == 0
    finally:
        await stop(listener)


async def test_chat_python_to_python() -> None:
    await _chat_between(await _python("chat.py", "--listen", "/ip4/127.0.0.1/tcp/0"), "python")


async def test_chat_with_lp2p_node_cli(lp2p_node_cli: Path) -> None:
    await _chat_between(await _python("chat.py", "--listen", "/ip4/127.0.0.1/tcp/0"), str(lp2p_node_cli), "chat")
