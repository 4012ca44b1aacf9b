"""A trivial WebSocket echo server with no ASGI and no Django: the reference
point for how fast a client can go on this machine.

It runs picows (a Cython WebSocket implementation) on uvloop, and returns every
data frame as it came. Load generators measure against it to prove they are
not the bottleneck (their headroom), and the layer breakdown starts from it.

Run: ``python -m channels_harness.servers.rawecho --host 127.0.0.1 --port 8001``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import picows
import uvloop


class EchoListener(picows.WSListener):
    """Echo each data frame; answer close with close and ping with pong."""

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        kind = frame.msg_type
        if kind == picows.WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        elif kind == picows.WSMsgType.PING:
            transport.send_pong(frame.get_payload_as_bytes())
        elif kind != picows.WSMsgType.PONG:
            transport.send(kind, frame.get_payload_as_memoryview(), frame.fin)


async def serve(host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM."""
    server = await picows.ws_create_server(
        lambda request: EchoListener(), host, port, max_frame_size=64 * 1024 * 1024
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
