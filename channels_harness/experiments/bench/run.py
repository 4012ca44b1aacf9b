"""The benchmark matrix: servers x flavours measured by the engine into a Run.

:func:`run_bench` measures, in this order: per server the closed-loop
throughput cells, open-loop latency, handshake rate, memory per idle
connection and blocking handlers; then the layered cost breakdown (raw echo
first); then the headroom: the raw echo baseline and the best Channels cell
measured again side by side; last, in the standard and full matrices, the
fan-out and scaling steps (:mod:`channels_harness.experiments.bench.extra`).

The machine is shared and its load drifts, so what is compared is measured
side by side: the runs of the flavours of one cell are interleaved (run 1 of
each flavour, then run 2...), as are the layers of the breakdown and the two
sides of the headroom ratio. Server and generator are pinned to different
cores (:func:`channels_harness.runtime.pinning.choose`). A cell that fails (server
died, generator crashed) is recorded with :meth:`Run.fail` and its server log
tail, and the matrix goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvloop

from channels_harness.errors import RunError
from channels_harness.experiments.bench.extra import run_extra_steps
from channels_harness.experiments.bench.plan import (
    FLAVOURS,
    HEADLINE_CONCURRENCY,
    HEADLINE_PAYLOAD,
    BenchPlan,
    Cell,
    make_plan,
)
from channels_harness.generators.engine import (
    GENERATOR_NAME,
    LoadConfig,
    LoadResult,
    hold_idle,
    payload,
    run_load,
)
from channels_harness.generators.engine.idle import raise_nofile_limit
from channels_harness.report.model import Run
from channels_harness.report.rows import (
    BlockingRow,
    BreakdownRow,
    HandshakeRow,
    HeadroomRow,
    LatencyRow,
    MemoryRow,
    ThroughputRow,
)
from channels_harness.runtime import cpu as cpu_module
from channels_harness.runtime import pinning, stats
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.reference import DEFAULT_APP
from channels_harness.servers.registry import RAW_ECHO, SERVERS, get_spec

Progress = Callable[[str, int, int], None]

HEADROOM_TARGET = 5.0
QUICK_SERVERS = ("daphne", "uvicorn")

# The layered breakdown, cheapest first: (layer label, app, flavour on the full site).
# The first layer is the raw echo server itself (no ASGI server at all); a layer
# with an app runs that app under the server at path "/"; a layer with a flavour
# is the reference site's ws/echo/<flavour>/ (AuthMiddlewareStack + URLRouter).
RAW_LAYER = "raw echo (picows, no ASGI)"
LAYERS: tuple[tuple[str, str | None, str | None], ...] = (
    (RAW_LAYER, RAW_ECHO.name, None),
    ("bare ASGI echo (no Channels)", "channels_harness.servers.apps.bare:application", None),
    ("AsyncConsumer", "channels_harness.servers.apps.layers:async_consumer", None),
    ("SyncConsumer", "channels_harness.servers.apps.layers:sync_consumer", None),
    ("AsyncConsumer + AuthMiddlewareStack + URLRouter", None, "async"),
    ("SyncConsumer + AuthMiddlewareStack + URLRouter", None, "sync"),
    ("AsyncWebsocketConsumer + AuthMiddlewareStack + URLRouter", None, "generic-async"),
    ("WebsocketConsumer + AuthMiddlewareStack + URLRouter", None, "generic-sync"),
)

# Blocking handlers: (flavour, kind); "block" is time.sleep, "await" asyncio.sleep.
BLOCKING_KINDS = (("sync", "block"), ("async", "block"), ("async", "await"))


class CellFailed(Exception):
    """A cell could not be measured; already recorded with :meth:`Run.fail`."""


@dataclass
class _Live:
    """One server (with one app) for a run of cells, restarted when it died."""

    name: str
    app: str
    cpus: frozenset[int] | None
    record_as: str
    process: ServerProcess | None = None

    def get(self, run: Run) -> ServerProcess:
        if self.process is not None and self.process.running:
            return self.process
        self.stop()
        process = ServerProcess(get_spec(self.name), app=self.app, cpus=self.cpus)
        self.process = process.start()
        info = process.info()
        info["name"] = self.record_as
        run.record_server(info)
        return process

    def log_tail(self) -> str:
        return self.process.log_tail() if self.process is not None else ""

    def died(self) -> bool:
        return self.process is not None and not self.process.running

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


class Bench:
    """Measures one :class:`BenchPlan` into ``run``; see :func:`run_bench`."""

    def __init__(self, run: Run, plan: BenchPlan, progress: Progress | None) -> None:
        self.run = run
        self.plan = plan
        self.progress = progress
        self.pins = pinning.choose()
        self.generator_cpus = sorted(self.pins.generator) if self.pins.generator else None
        self.server_cpus = sorted(self.pins.server) if self.pins.server else None
        self.done = 0
        self.total = self._count_steps()

    # -- bookkeeping ------------------------------------------------------------

    def _count_steps(self) -> int:
        plan = self.plan
        blocking = len(BLOCKING_KINDS) * len(plan.blocking_delays_ms)
        return (
            2 * plan.runs  # headroom: baseline and best cell, interleaved
            + len(plan.cells) * plan.runs
            + len(plan.latency_cells) * len(plan.latency_shares)
            + len(plan.servers) * (len(plan.handshake_flavours) + len(plan.memory_flavours))
            + len(plan.blocking_servers) * blocking
            + len(plan.breakdown_servers) * len(LAYERS) * plan.breakdown_runs
        )

    @contextmanager
    def step(self, description: str) -> Iterator[None]:
        if self.progress is not None:
            self.progress(description, self.done, self.total)
        try:
            yield
        finally:
            self.done += 1
            if self.progress is not None:
                self.progress(description, self.done, self.total)

    def load(
        self, live: _Live, section: str, cell: dict[str, Any], path: str, **options: Any
    ) -> LoadResult:
        """One load run of ``LoadConfig(**options)`` against ``path`` on ``live``;
        record the failure and raise :class:`CellFailed` if the server or the
        generator failed."""
        try:
            server = live.get(self.run)
            result = run_load(
                LoadConfig(url=server.ws_url(path), **options),
                self.plan.generator_processes,
                self.pins.generator,
            )
        except (RunError, OSError) as exc:
            self.run.fail(section, cell, f"{type(exc).__name__}: {exc}", live.log_tail())
            raise CellFailed from exc
        if live.died():
            popen = live.process.popen if live.process is not None else None
            code = popen.poll() if popen is not None else None
            message = f"the server exited during the run (code {code})"
            self.run.fail(section, cell, message, live.log_tail())
            raise CellFailed
        if result.connected == 0:
            message = "no connection could be opened: " + "; ".join(result.error_samples)
            self.run.fail(section, cell, message, live.log_tail())
            raise CellFailed
        return result

    # -- sections -----------------------------------------------------------------

    def measure_server(self, name: str) -> None:
        """Every per-server section for ``name`` on one (restartable) server."""
        live = _Live(name, DEFAULT_APP, self.pins.server, name)
        try:
            groups: dict[tuple[int, str], list[Cell]] = {}
            for cell in self.plan.cells:
                if cell.server == name:
                    groups.setdefault((cell.concurrency, cell.payload), []).append(cell)
            for group in groups.values():
                self.throughput(live, group)
            for server, flavour in self.plan.latency_cells:
                if server == name:
                    self.latency(live, flavour)
            for flavour in self.plan.handshake_flavours:
                with self.step(f"{name} {flavour} handshakes"):
                    self.handshake(live, flavour)
            for flavour in self.plan.memory_flavours:
                with self.step(f"{name} {flavour} memory per idle connection"):
                    self.memory(name, flavour)
            if name in self.plan.blocking_servers:
                for flavour, kind in BLOCKING_KINDS:
                    for delay in self.plan.blocking_delays_ms:
                        with self.step(f"{name} {flavour} {kind} {delay} ms"):
                            self.blocking(live, flavour, kind, delay)
        finally:
            live.stop()

    def throughput(self, live: _Live, cells: list[Cell]) -> None:
        """Closed-loop runs of ``cells`` (one concurrency and payload, several
        flavours), interleaved: run 1 of every flavour, then run 2 of every
        flavour..., so a change in the machine's load hits every flavour alike
        and their ratio stays fair."""
        results: dict[Cell, list[LoadResult]] = {cell: [] for cell in cells}
        failed: set[Cell] = set()
        runs = self.plan.runs
        for index in range(runs):
            for cell in cells:
                label = f"{cell.server} {cell.flavour} c={cell.concurrency} {cell.payload}"
                with self.step(f"{label} run {index + 1}/{runs}"):
                    if cell in failed:
                        continue
                    try:
                        results[cell].append(
                            self.load(
                                live,
                                "throughput",
                                _cell_dict(cell),
                                f"ws/echo/{cell.flavour}/",
                                connections=cell.concurrency,
                                payload=cell.payload,
                                duration_s=self.plan.duration_s,
                                warmup_s=self.plan.warmup_s,
                            )
                        )
                    except CellFailed:
                        failed.add(cell)
        for cell in cells:
            if cell not in failed and results[cell]:
                self.run.add(self.throughput_row(_cell_dict(cell), results[cell]))

    def throughput_row(self, cell: dict[str, Any], results: list[LoadResult]) -> ThroughputRow:
        rates = [r.rate for r in results]
        summary = stats.summarize(stats.combine(r.histogram for r in results))
        return ThroughputRow(
            scenario="echo",
            server=cell["server"],
            flavour=cell["flavour"],
            concurrency=cell["concurrency"],
            payload=cell["payload"],
            payload_bytes=payload(cell["payload"]).size,
            mode="closed",
            generator=GENERATOR_NAME,
            generator_processes=results[0].processes,
            runs=len(results),
            msgs_per_s=round(stats.median(rates), 1),
            msgs_per_s_runs=[round(rate, 1) for rate in rates],
            spread_pct=stats.spread_pct(rates),
            p50_ms=summary.p50_ms,
            p90_ms=summary.p90_ms,
            p99_ms=summary.p99_ms,
            p999_ms=summary.p999_ms,
            max_ms=summary.max_ms,
            errors=sum(r.errors for r in results),
            generator_cpu=round(max(r.generator_cpu for r in results), 3),
            generator_demand=round(max(r.generator_demand for r in results), 3),
            generator_bound=any(r.generator_bound for r in results),
            server_cpus=self.server_cpus,
            generator_cpus=self.generator_cpus,
        )

    def peak(self, server: str, flavour: str) -> float:
        """This run's headline msgs/s for ``server`` and ``flavour`` (0 when unmeasured)."""
        for row in self.run.rows(ThroughputRow):
            if (
                row.server == server
                and row.flavour == flavour
                and row.concurrency == HEADLINE_CONCURRENCY
                and row.payload == HEADLINE_PAYLOAD
            ):
                return row.msgs_per_s
        return 0.0

    def latency(self, live: _Live, flavour: str) -> None:
        peak = self.peak(live.name, flavour)
        for share in self.plan.latency_shares:
            with self.step(f"{live.name} {flavour} open loop at {share:.0%} of peak"):
                cell = {"server": live.name, "flavour": flavour, "share_of_peak": share}
                if not peak:
                    self.run.fail("latency", cell, "no throughput figure to take a share of")
                    continue
                rate = round(peak * share)
                try:
                    result = self.load(
                        live,
                        "latency",
                        cell,
                        f"ws/echo/{flavour}/",
                        mode="open",
                        rate=rate,
                        connections=HEADLINE_CONCURRENCY,
                        duration_s=self.plan.latency_duration_s,
                        warmup_s=self.plan.warmup_s,
                    )
                except CellFailed:
                    continue
                self.run.add(
                    LatencyRow(
                        server=live.name,
                        flavour=flavour,
                        connections=HEADLINE_CONCURRENCY,
                        share_of_peak=share,
                        target_rate=float(rate),
                        achieved_rate=result.achieved_rate,
                        **result.summary.as_row(),
                        errors=result.errors,
                        generator_cpu=round(result.generator_cpu, 3),
                        generator_bound=result.generator_bound,
                    ),
                )

    def handshake(self, live: _Live, flavour: str) -> None:
        cell = {"server": live.name, "flavour": flavour}
        plan = self.plan
        try:
            results = [
                self.load(
                    live,
                    "handshake",
                    cell,
                    f"ws/echo/{flavour}/",
                    mode="handshake",
                    connections=plan.handshake_concurrency,
                    duration_s=plan.handshake_duration_s,
                )
                for _ in range(plan.handshake_runs)
            ]
        except CellFailed:
            return
        rates = [r.rate for r in results]
        merged = stats.summarize(stats.combine(r.histogram for r in results))
        self.run.add(
            HandshakeRow(
                server=live.name,
                flavour=flavour,
                concurrency=plan.handshake_concurrency,
                handshakes_per_s=round(stats.median(rates), 1),
                handshakes_per_s_runs=[round(rate, 1) for rate in rates],
                p50_ms=merged.p50_ms,
                p99_ms=merged.p99_ms,
                runs=len(results),
                spread_pct=stats.spread_pct(rates),
                errors=sum(r.errors for r in results),
                generator_cpu=round(max(r.generator_cpu for r in results), 3),
                generator_bound=any(r.generator_bound for r in results),
            ),
        )

    def memory(self, name: str, flavour: str) -> None:
        """Server RSS before and while ``memory_connections`` idle connections are open.

        Always on a fresh server: a process that already served a thousand
        connections keeps that memory (CPython's allocator rarely gives it back),
        which would hide the cost of the idle ones.
        """
        count = self.plan.memory_connections
        cell = {"server": name, "flavour": flavour, "connections": count}
        live = _Live(name, DEFAULT_APP, self.pins.server, name)
        try:
            self._memory(live, flavour, cell)
        finally:
            live.stop()

    def _memory(self, live: _Live, flavour: str, cell: dict[str, Any]) -> None:
        count = self.plan.memory_connections
        try:
            server = live.get(self.run)
            url = server.ws_url(f"ws/echo/{flavour}/")
            # Warm up (lazy imports, first consumer instance) before the idle figure.
            uvloop.run(hold_idle(url, 10, server.rss_bytes, settle_s=0.2))
            idle = server.rss_bytes()
            outcome = uvloop.run(hold_idle(url, count, server.rss_bytes, settle_s=1.0))
        except (RunError, OSError) as exc:
            self.run.fail("memory", cell, f"{type(exc).__name__}: {exc}", live.log_tail())
            return
        if live.died() or outcome.opened == 0:
            message = "server died" if live.died() else "; ".join(outcome.error_samples)
            self.run.fail("memory", cell, f"could not hold connections: {message}", live.log_tail())
            return
        self.run.add(
            MemoryRow(
                **cell,
                opened=outcome.opened,
                errors=outcome.errors,
                rss_idle_bytes=idle,
                rss_loaded_bytes=outcome.value,
                bytes_per_connection=round((outcome.value - idle) / outcome.opened),
            ),
        )

    def blocking(self, live: _Live, flavour: str, kind: str, delay_ms: int) -> None:
        cell = {"server": live.name, "flavour": flavour, "kind": kind, "delay_ms": delay_ms}
        query = f"{kind}_ms={delay_ms}"
        try:
            result = self.load(
                live,
                "blocking",
                cell,
                f"ws/echo/{flavour}/?{query}",
                connections=HEADLINE_CONCURRENCY,
                duration_s=self.plan.blocking_duration_s,
                warmup_s=self.plan.warmup_s,
                drain_s=10.0,
            )
        except CellFailed:
            return
        summary = result.summary
        self.run.add(
            BlockingRow(
                server=live.name,
                flavour=flavour,
                kind=kind,
                delay_ms=delay_ms,
                concurrency=HEADLINE_CONCURRENCY,
                msgs_per_s=round(result.rate, 1),
                p50_ms=summary.p50_ms,
                p99_ms=summary.p99_ms,
                errors=result.errors,
                generator_bound=result.generator_bound,
            ),
        )

    def breakdown(self, name: str) -> None:
        """Raw echo, then each Channels layer under ``name``, in microseconds per
        message. Every layer's server runs at once and the runs are interleaved
        (run 1 of every layer, then run 2...), so the layers are compared under
        the same machine load."""
        lives: dict[str, _Live] = {
            RAW_ECHO.name: _Live(RAW_ECHO.name, DEFAULT_APP, self.pins.server, RAW_ECHO.name)
        }
        for _label, app, _flavour in LAYERS:
            key = app or DEFAULT_APP
            if key not in lives:
                record_as = name if app is None else f"{name} [{key.rsplit(':', 1)[-1]}]"
                lives[key] = _Live(name, key, self.pins.server, record_as)
        results: dict[str, list[LoadResult]] = {label: [] for label, _, _ in LAYERS}
        failed: set[str] = set()
        runs = self.plan.breakdown_runs
        try:
            for index in range(runs):
                for label, app, flavour in LAYERS:
                    with self.step(f"{name} breakdown run {index + 1}/{runs}: {label}"):
                        if label in failed:
                            continue
                        try:
                            results[label].append(
                                self.load(
                                    lives[app or DEFAULT_APP],
                                    "breakdown",
                                    {"server": name, "layer": label},
                                    "" if app else f"ws/echo/{flavour}/",
                                    connections=HEADLINE_CONCURRENCY,
                                    payload=HEADLINE_PAYLOAD,
                                    duration_s=self.plan.duration_s,
                                    warmup_s=self.plan.warmup_s,
                                )
                            )
                        except CellFailed:
                            failed.add(label)
        finally:
            for live in lives.values():
                live.stop()
        rows: list[BreakdownRow] = []
        for label, _, _ in LAYERS:
            if label not in failed and results[label]:
                rates = [r.rate for r in results[label]]
                rows.append(_layer_row(name, label, stats.median(rates), len(rates)))
        self.run.extend(rows)

    def headroom(self) -> None:
        """The raw echo baseline over the best server-limited Channels cell,
        both measured again side by side (runs interleaved) at the end, so the
        ratio compares the two under the same machine load."""
        channels_rows = [
            row
            for row in self.run.rows(ThroughputRow)
            if row.server in SERVERS and not row.generator_bound
        ]
        if not channels_rows:
            return
        best = max(channels_rows, key=lambda row: row.msgs_per_s)
        best_label = f"{best.server} {best.flavour} c={best.concurrency} {best.payload}"
        raw = _Live(RAW_ECHO.name, DEFAULT_APP, self.pins.server, RAW_ECHO.name)
        cell_live = _Live(best.server, DEFAULT_APP, self.pins.server, best.server)
        baseline_results: list[LoadResult] = []
        best_results: list[LoadResult] = []
        runs = self.plan.runs
        try:
            for index in range(runs):
                for live, path, into, label in (
                    (raw, "", baseline_results, "raw echo"),
                    (cell_live, f"ws/echo/{best.flavour}/", best_results, best_label),
                ):
                    with self.step(f"headroom run {index + 1}/{runs}: {label}"):
                        into.append(
                            self.load(
                                live,
                                "headroom",
                                {"server": live.name, "best_cell": best_label},
                                path,
                                connections=best.concurrency,
                                payload=best.payload,
                                duration_s=self.plan.duration_s,
                                warmup_s=self.plan.warmup_s,
                            )
                        )
        except CellFailed:
            return
        finally:
            raw.stop()
            cell_live.stop()
        self.add_headroom(best_label, baseline_results, best_results)

    def add_headroom(
        self, best_label: str, baseline_results: list[LoadResult], best_results: list[LoadResult]
    ) -> None:
        rates = [r.rate for r in baseline_results]
        best_rates = [r.rate for r in best_results]
        baseline = stats.median(rates)
        best = stats.median(best_rates)
        ratio = stats.ratio(baseline, best) or 0.0
        # The CPU of the run that gave the median figure, not of another run.
        middle = sorted(baseline_results, key=lambda r: r.rate)[len(baseline_results) // 2]
        cpu = middle.generator_cpu
        demand = middle.generator_demand
        capacity = stats.median([r.rate / max(r.generator_cpu, 1e-9) for r in baseline_results])
        capacity_ratio = stats.ratio(capacity, best)
        self.run.add(
            HeadroomRow(
                generator=GENERATOR_NAME,
                generator_processes=baseline_results[0].processes,
                baseline=RAW_ECHO.name,
                baseline_msgs_per_s=round(baseline, 1),
                baseline_msgs_per_s_runs=[round(rate, 1) for rate in rates],
                baseline_spread_pct=stats.spread_pct(rates),
                best_channels_msgs_per_s=round(best, 1),
                best_channels_msgs_per_s_runs=[round(rate, 1) for rate in best_rates],
                best_cell=best_label,
                ratio=ratio,
                generator_cpu=round(cpu, 3),
                generator_demand=round(demand, 3),
                generator_msgs_per_cpu_s=round(capacity, 1),
                capacity_ratio=capacity_ratio,
                target=HEADROOM_TARGET,
                ok=ratio >= HEADROOM_TARGET,
            ),
        )
        if ratio < HEADROOM_TARGET:
            limit = (
                "the generator was saturated"
                if demand >= cpu_module.SATURATED_CPU
                else "the generator was not saturated, so the raw echo server on the "
                "(shared) server core was the limit"
            )
            self.run.note(
                f"Headroom ratio {ratio} is below {HEADROOM_TARGET}: the raw echo baseline's "
                f"median run reached {middle.rate:.0f} msgs/s with the generator at "
                f"{cpu:.0%} of a core "
                f"(CPU used plus waited for: {demand:.0%}); {limit}. The generator's own "
                f"capacity, {capacity:.0f} msgs per CPU-second, is {capacity_ratio}x the "
                "best Channels cell."
            )


def _cell_dict(cell: Cell) -> dict[str, Any]:
    return {
        "server": cell.server,
        "flavour": cell.flavour,
        "concurrency": cell.concurrency,
        "payload": cell.payload,
    }


def _layer_row(server: str, layer: str, rate: float, runs: int) -> BreakdownRow:
    return BreakdownRow(
        server=server,
        layer=layer,
        us_per_msg=round(1e6 / rate, 2),
        msgs_per_s=round(rate, 1),
        runs=runs,
    )


def default_servers(quick: bool) -> tuple[str, ...]:
    """Quick: daphne and uvicorn; otherwise every installed server."""
    installed = tuple(name for name, spec in SERVERS.items() if spec.available())
    if quick:
        return tuple(name for name in QUICK_SERVERS if name in installed)
    return installed


def run_bench(
    run: Run,
    *,
    quick: bool,
    servers: Sequence[str] | None = None,
    flavours: Sequence[str] | None = None,
    progress: Progress | None = None,
    matrix: str | None = None,
    runs: int | None = None,
    generator_processes: int = 1,
) -> None:
    """Measure the benchmark matrix into ``run``.

    ``matrix`` is ``quick``, ``standard`` or ``full`` (see
    :mod:`channels_harness.experiments.bench.plan`); by default ``quick`` when ``quick`` is
    true, else ``standard``. ``progress(description, done, total)`` is called
    before and after every step.
    """
    chosen = tuple(servers) if servers else default_servers(quick)
    for name in chosen:
        get_spec(name)
    plan = make_plan(
        matrix or ("quick" if quick else "standard"),
        chosen,
        tuple(flavours) if flavours else FLAVOURS,
        runs=runs,
        generator_processes=generator_processes,
    )
    # Servers inherit this limit: a thousand idle connections need the descriptors.
    raise_nofile_limit(max(4096, plan.memory_connections * 2 + 256))
    bench = Bench(run, plan, progress)
    run.data["options"]["bench"] = plan.describe()
    run.data["options"]["pinning"] = bench.pins.describe()
    run.save()
    for name in plan.servers:
        bench.measure_server(name)
    for name in plan.breakdown_servers:
        bench.breakdown(name)
    bench.headroom()

    def say(text: str) -> None:
        if progress is not None:
            progress(text, bench.done, bench.total)

    run_extra_steps(run, plan.matrix, plan.servers, say)
