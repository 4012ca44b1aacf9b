"""One generator process: ``python -m channels_harness.generators.engine.worker``.

Protocol over pipes, one line each: the parent writes the
:class:`~.result.LoadConfig` as JSON on stdin; the worker opens its
connections and prints ``READY``; the parent writes ``GO`` (to every worker at
once); the worker measures and prints ``RESULT <json>``, then exits. A closed
stdin or a missing ``GO`` within the timeout ends the worker.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import uvloop

from channels_harness.generators.engine.churn import run_handshakes
from channels_harness.generators.engine.closed import run_closed
from channels_harness.generators.engine.idle import raise_nofile_limit
from channels_harness.generators.engine.openloop import run_open
from channels_harness.generators.engine.result import Barrier, LoadConfig, WorkerResult
from channels_harness.generators.engine.scenario_loops import run_closed_steps, run_open_steps
from channels_harness.runtime.timeouts import scaled

READY = "READY"
GO = "GO"
RESULT = "RESULT "
GO_TIMEOUT_S = 60.0


async def run_one(config: LoadConfig, ready: Barrier | None = None) -> WorkerResult:
    """Run ``config`` in this process's event loop (what each worker does): the
    echo, or a conversation (a scenario file or the user's messages)."""
    raise_nofile_limit(config.connections * 2 + 256)
    if config.mode == "closed":
        return await (run_closed_steps if config.converses else run_closed)(config, ready)
    if config.mode == "open":
        return await (run_open_steps if config.converses else run_open)(config, ready)
    return await run_handshakes(config, ready)


async def _wait_for_go() -> None:
    print(READY, flush=True)
    loop = asyncio.get_running_loop()
    line = loop.create_future()
    fd = sys.stdin.fileno()
    buffer = bytearray()

    def readable() -> None:
        chunk = os.read(fd, 64)
        buffer.extend(chunk)
        if (not chunk or b"\n" in buffer) and not line.done():
            line.set_result(bytes(buffer))

    loop.add_reader(fd, readable)
    try:
        text = await asyncio.wait_for(line, scaled(GO_TIMEOUT_S))
    finally:
        loop.remove_reader(fd)
    if text.strip().decode() != GO:
        raise SystemExit(f"expected {GO!r} from the parent, got {text!r}")


def main() -> None:
    config = LoadConfig.from_json(json.loads(sys.stdin.readline()))
    result = uvloop.run(run_one(config, _wait_for_go))
    print(RESULT + json.dumps(result.to_json()), flush=True)


if __name__ == "__main__":
    main()
