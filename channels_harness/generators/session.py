"""A generator process that answers commands, one JSON line each way.

:class:`GeneratorSession` starts ``python -m <module> '<config json>'`` pinned
to the generator cores, writes one command per line to its stdin and reads
its stdout: ``{"progress": ...}`` lines go to a callback as they come, and the
``{"reply": ...}`` line answers the command. Every :meth:`~GeneratorSession.call`
has a deadline; a process that misses it, or exits, raises
:class:`~channels_harness.errors.GeneratorError` with the tail of its stderr.
The process group is stopped and reaped on every exit path.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any

from channels_harness.errors import GeneratorError
from channels_harness.runtime import procgroup

_EOF = object()


class GeneratorSession:
    """One interactive generator process (use as a context manager)."""

    def __init__(
        self,
        module: str,
        config: dict[str, Any],
        cpus: frozenset[int] | None,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.module = module
        self.config = config
        self.cpus = cpus
        self.on_progress = on_progress
        self.popen: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None
        self._lines: queue.Queue[object] = queue.Queue()

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def __enter__(self) -> GeneratorSession:
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
        self.popen = procgroup.spawn(
            [sys.executable, "-m", self.module, json.dumps(self.config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cpus=self.cpus,
            text=True,
        )
        threading.Thread(target=self._read, args=(self.popen.stdout,), daemon=True).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Ask the process to exit, then stop and reap its group (safe to repeat)."""
        popen, self.popen = self.popen, None
        if popen is not None:
            try:
                assert popen.stdin is not None
                popen.stdin.write(json.dumps({"op": "exit"}) + "\n")
                popen.stdin.close()
            except (OSError, ValueError):
                pass
            procgroup.stop_group(popen, grace=10.0)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _read(self, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            self._lines.put(line)
        self._lines.put(_EOF)

    def call(self, command: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send ``command``; return its reply, passing progress lines on meanwhile."""
        popen = self.popen
        if popen is None or popen.stdin is None:
            raise GeneratorError(f"{self.module} is not running")
        try:
            popen.stdin.write(json.dumps(command) + "\n")
            popen.stdin.flush()
        except (OSError, ValueError) as exc:
            raise self._failure(f"could not take {command.get('op')!r}: {exc}") from None
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise self._failure(
                    f"did not answer {command.get('op')!r} within {timeout_s:.0f} s"
                ) from None
            if line is _EOF:
                popen.wait()
                raise self._failure(
                    f"exited (code {popen.returncode}) during {command.get('op')!r}"
                )
            try:
                message = json.loads(str(line))
            except ValueError:
                continue  # not one of ours (a library printing to stdout)
            if not isinstance(message, dict):
                continue
            if "reply" in message:
                return dict(message["reply"])
            if self.on_progress is not None and "progress" in message:
                self.on_progress(message["progress"])

    def _failure(self, what: str) -> GeneratorError:
        tail = ""
        if self._stderr is not None:
            self._stderr.seek(0)
            text = self._stderr.read().strip()
            self._stderr.seek(0, 2)
            tail = f"\n{text[-2000:]}" if text else ""
        return GeneratorError(f"{self.module} {what}{tail}")
