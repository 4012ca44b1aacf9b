"""Run one generator module in its own pinned process and read its result line.

The fan-out and soak generators run as ``python -m <module> '<config json>'``
on the generator core(s), so their CPU is measured apart from the harness and
they never share the server's core. Each prints ``RESULT <json>`` last (the
soak generator also prints progress lines before it). The process is stopped
and reaped on every exit path.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from channels_harness.errors import GeneratorError
from channels_harness.runtime import procgroup

RESULT = "RESULT "


@contextmanager
def generator(
    module: str, config: dict[str, Any], cpus: frozenset[int] | None
) -> Iterator[tuple[subprocess.Popen[str], IO[str]]]:
    """Start ``python -m module '<config>'`` pinned to ``cpus``; yield it and its stderr file."""
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as stderr:
        popen = procgroup.spawn(
            [sys.executable, "-m", module, json.dumps(config)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            cpus=cpus,
            text=True,
        )
        try:
            yield popen, stderr
        finally:
            procgroup.stop_group(popen, grace=2.0)


def _tail(stderr: IO[str]) -> str:
    stderr.seek(0)
    text = stderr.read().strip()
    return f"\n{text[-2000:]}" if text else ""


def run_generator(
    module: str,
    config: dict[str, Any],
    cpus: frozenset[int] | None,
    timeout_s: float,
    on_line: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run the generator to its end (at most ``timeout_s``) and return its result.

    Lines before the result that hold JSON are passed to ``on_line`` as they come.
    """
    with generator(module, config, cpus) as (popen, stderr):
        assert popen.stdout is not None
        result: dict[str, Any] | None = None
        stream = popen.stdout

        def read() -> None:
            nonlocal result
            for line in stream:
                if line.startswith(RESULT):
                    result = json.loads(line[len(RESULT) :])
                elif on_line is not None and line.startswith("{"):
                    on_line(json.loads(line))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout_s)
        if reader.is_alive():
            raise GeneratorError(f"{module} did not finish within {timeout_s:.0f}s{_tail(stderr)}")
        popen.wait()
        if result is None:
            raise GeneratorError(
                f"{module} exited (code {popen.returncode}) without a result{_tail(stderr)}"
            )
        return result
