"""What every section of one benchmark run shares.

:class:`BenchSession` holds the run, the plan and the pinning, counts the
progress steps and makes the one load call every section goes through (which
records a failed cell and raises :class:`CellFailed`). :class:`LiveServer` is
the restartable server a section measures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn

from channels_harness.errors import RunError
from channels_harness.experiments.bench.plan import BenchPlan
from channels_harness.generators.engine import LoadConfig, LoadResult, run_load
from channels_harness.report.model import Run
from channels_harness.runtime import pinning
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.reference import DEFAULT_APP
from channels_harness.servers.registry import get_spec

Progress = Callable[[str, int, int], None]


class CellFailed(Exception):
    """A cell could not be measured; already recorded with :meth:`Run.fail`."""


@dataclass
class LiveServer:
    """One server (with one app, over TLS when ``tls``) for a run of cells,
    restarted when it died."""

    name: str
    app: str
    cpus: frozenset[int] | None
    record_as: str
    process: ServerProcess | None = None
    tls: bool = False

    def get(self, run: Run) -> ServerProcess:
        """The running server; (re)started and recorded in ``run`` as :attr:`record_as`
        when it was not running."""
        if self.process is not None and self.process.running:
            return self.process
        self.stop()
        process = ServerProcess(get_spec(self.name), app=self.app, cpus=self.cpus, tls=self.tls)
        self.process = process.start()
        info = process.info()
        info["name"] = self.record_as
        run.record_server(info)
        return process

    def log_tail(self) -> str:
        """The end of the server's log ("" if it never started)."""
        return self.process.log_tail() if self.process is not None else ""

    def died(self) -> bool:
        """True if the server was started and is no longer running."""
        return self.process is not None and not self.process.running

    def exit_code(self) -> int | None:
        """The server's exit code (None while it runs or if it never started)."""
        popen = self.process.popen if self.process is not None else None
        return popen.poll() if popen is not None else None

    def stop(self) -> None:
        """Stop the server and its process group, if it was started."""
        if self.process is not None:
            self.process.stop()


@dataclass
class BenchSession:
    """One benchmark run in progress: the run and plan, where server and
    generator run, and how many of the ``total`` progress steps are done."""

    run: Run
    plan: BenchPlan
    total: int
    progress: Progress | None = None
    pins: pinning.Pinning = field(default_factory=pinning.choose)
    done: int = 0

    @property
    def server_cpus(self) -> list[int] | None:
        """The server's cores, sorted (None when not pinned)."""
        return sorted(self.pins.server) if self.pins.server else None

    @property
    def generator_cpus(self) -> list[int] | None:
        """The generator's cores, sorted (None when not pinned)."""
        return sorted(self.pins.generator) if self.pins.generator else None

    @contextmanager
    def step(self, description: str) -> Iterator[None]:
        """One progress step: reported before, counted and reported after, even
        when the body raises."""
        self.say(description)
        try:
            yield
        finally:
            self.done += 1
            self.say(description)

    def say(self, text: str) -> None:
        """Report ``text`` with the steps done so far."""
        if self.progress is not None:
            self.progress(text, self.done, self.total)

    def skip(self, steps: int, description: str) -> None:
        """Count ``steps`` planned steps that will not run (a measurement that
        settled before its budget), so the progress still ends at the total."""
        if steps > 0:
            self.done += steps
            self.say(description)

    @contextmanager
    def live_server(
        self, name: str, app: str = DEFAULT_APP, record_as: str | None = None, tls: bool = False
    ) -> Iterator[LiveServer]:
        """A :class:`LiveServer` on the server's cores (started on first use, over
        TLS when ``tls``), stopped on leaving the block; recorded as ``record_as``
        (default ``name``, with `` (TLS)`` over TLS)."""
        record_as = record_as or (f"{name} (TLS)" if tls else name)
        live = LiveServer(name, app, self.pins.server, record_as, tls=tls)
        try:
            yield live
        finally:
            live.stop()

    def load(
        self, live: LiveServer, section: str, cell: dict[str, Any], path: str, **options: Any
    ) -> LoadResult:
        """One load run of ``LoadConfig(**options)`` against ``path`` on ``live``,
        watching the server's processes (its CPU time and the machine's noise over
        the window) and trusting its certificate over TLS; record the failure as
        ``cell`` of ``section`` and raise :class:`CellFailed` if the server or the
        generator failed or no connection opened."""
        try:
            server = live.get(self.run)
            ca_file = server.ca_file
            config = LoadConfig(
                url=server.ws_url(path),
                server_pids=[process.pid for process in server.processes()],
                ca_file=str(ca_file) if ca_file is not None else None,
                **options,
            )
            result = run_load(config, self.plan.generator_processes, self.pins.generator)
        except (RunError, OSError) as exc:
            self._fail(section, cell, f"{type(exc).__name__}: {exc}", live, exc)
        if live.died():
            message = f"the server exited during the run (code {live.exit_code()})"
            self._fail(section, cell, message, live)
        if result.connected == 0:
            message = "no connection could be opened: " + "; ".join(result.error_samples)
            self._fail(section, cell, message, live)
        return result

    def _fail(
        self,
        section: str,
        cell: dict[str, Any],
        message: str,
        live: LiveServer,
        cause: BaseException | None = None,
    ) -> NoReturn:
        self.run.fail(section, cell, message, live.log_tail())
        raise CellFailed from cause
