"""Which WebSocket client should the engine use? Measure, do not guess.

Runs the same closed loop (N connections ping-pong, 32 B text) with picows
(the engine's client, in one worker process) and with websockets' asyncio
client (in this process), both on uvloop and pinned to the generator core,
against the raw picows echo server pinned to the server core. Prints TSV:
client, msgs/s, generator CPU (share of one core), msgs per generator
CPU-second (what the client could do on a full core).

    python bench/compare_clients.py [--connections 50] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import uvloop
import websockets

from channels_harness.generators.engine import LoadConfig, run_load
from channels_harness.runtime import pinning
from channels_harness.servers.process import serving

MESSAGE = "x" * 32


async def websockets_closed_loop(url: str, connections: int, seconds: float) -> tuple[float, float]:
    """Closed loop with websockets' asyncio client; returns (msgs/s, CPU share)."""
    conns = [await websockets.connect(url) for _ in range(connections)]
    count = 0
    deadline = 0.0

    async def pingpong(ws: websockets.ClientConnection) -> None:
        nonlocal count
        while time.monotonic() < deadline:
            await ws.send(MESSAGE)
            await ws.recv()
            count += 1

    cpu_started = time.process_time()
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(*(pingpong(ws) for ws in conns))
    elapsed = time.monotonic() - started
    share = (time.process_time() - cpu_started) / elapsed
    for ws in conns:
        await ws.close()
    return count / elapsed, share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    pins = pinning.choose()
    pinning.pin_self(pins.generator)
    print("client\tmsgs_per_s\tgenerator_cpu\tmsgs_per_cpu_s")
    with serving("raw-echo", cpus=pins.server) as server:
        url = server.ws_url("/")
        config = LoadConfig(url=url, connections=args.connections, duration_s=args.seconds)
        result = run_load(config, cpus=pins.generator)
        share = result.generator_cpu
        print(f"picows\t{result.rate:.0f}\t{share:.2f}\t{result.rate / share:.0f}")
        rate, share = uvloop.run(websockets_closed_loop(url, args.connections, args.seconds))
        print(f"websockets\t{rate:.0f}\t{share:.2f}\t{rate / share:.0f}")


if __name__ == "__main__":
    main()
