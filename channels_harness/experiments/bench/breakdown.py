"""The layered cost breakdown: one :class:`BreakdownRow` per layer of the stack.

From the raw echo server (no ASGI server at all) up to a generic consumer
behind ``AuthMiddlewareStack`` and ``URLRouter``, each layer's cost in
microseconds per message. Every layer's server runs at once and the runs are
interleaved (:mod:`.interleave`), so the layers are compared under the same
machine load.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

from channels_harness.experiments.bench.interleave import interleave
from channels_harness.experiments.bench.plan import (
    HEADLINE_CONCURRENCY,
    HEADLINE_PAYLOAD,
    BenchPlan,
)
from channels_harness.experiments.bench.session import BenchSession, LiveServer
from channels_harness.generators.engine import LoadResult
from channels_harness.report.rows import BreakdownRow
from channels_harness.runtime import confidence, stats
from channels_harness.servers.reference import DEFAULT_APP, echo_path
from channels_harness.servers.registry import RAW_ECHO


@dataclass(frozen=True)
class Layer:
    """One layer of the breakdown.

    With an ``app``, that app runs under the server at path "/" (the app
    :data:`RAW_ECHO.name <channels_harness.servers.registry.RAW_ECHO>` stands
    for the raw echo server itself); without one, the layer is the reference
    site's echo endpoint of ``flavour``.
    """

    label: str
    app: str | None = None
    flavour: str | None = None

    @property
    def server_key(self) -> str:
        """Which of the breakdown's servers runs this layer."""
        return self.app or DEFAULT_APP

    @property
    def path(self) -> str:
        """The WebSocket path this layer is loaded on."""
        return echo_path(self.flavour) if self.flavour else ""


RAW_LAYER = "raw echo (picows, no ASGI)"
# Cheapest first.
LAYERS: tuple[Layer, ...] = (
    Layer(RAW_LAYER, app=RAW_ECHO.name),
    Layer("bare ASGI echo (no Channels)", app="channels_harness.servers.apps.bare:application"),
    Layer("AsyncConsumer", app="channels_harness.servers.apps.layers:async_consumer"),
    Layer("SyncConsumer", app="channels_harness.servers.apps.layers:sync_consumer"),
    Layer("AsyncConsumer + AuthMiddlewareStack + URLRouter", flavour="async"),
    Layer("SyncConsumer + AuthMiddlewareStack + URLRouter", flavour="sync"),
    Layer("AsyncWebsocketConsumer + AuthMiddlewareStack + URLRouter", flavour="generic-async"),
    Layer("WebsocketConsumer + AuthMiddlewareStack + URLRouter", flavour="generic-sync"),
)


def step_count(plan: BenchPlan) -> int:
    """Progress steps: one per breakdown server, layer and run."""
    return len(plan.breakdown_servers) * len(LAYERS) * plan.breakdown_runs


def measure_breakdown(session: BenchSession, name: str) -> None:
    """Raw echo, then each Channels layer under server ``name``, interleaved;
    a row for every layer that never failed (the median of its runs)."""
    plan = session.plan

    def describe(layer: Layer, index: int) -> str:
        return f"{name} breakdown run {index + 1}/{plan.breakdown_runs}: {layer.label}"

    with ExitStack() as servers:
        lives = _layer_servers(session, name, servers)

        def measure(layer: Layer) -> LoadResult:
            return session.load(
                lives[layer.server_key],
                "breakdown",
                {"server": name, "layer": layer.label},
                layer.path,
                connections=HEADLINE_CONCURRENCY,
                payload=HEADLINE_PAYLOAD,
                duration_s=plan.duration_s,
                warmup_s=plan.warmup_s,
            )

        measured = interleave(session, LAYERS, plan.breakdown_runs, describe, measure).measured()
    for layer, results in measured:
        rates = [r.rate for r in results]
        if stats.median(rates) > 0:
            session.run.add(layer_row(name, layer.label, rates))
        else:
            cell = {"server": name, "layer": layer.label}
            session.run.fail("breakdown", cell, f"no message completed in most runs: {rates}")


def _layer_servers(session: BenchSession, name: str, servers: ExitStack) -> dict[str, LiveServer]:
    """The servers of the breakdown by :attr:`Layer.server_key`, stopped with
    ``servers``: the raw echo server, and ``name`` once per app (recorded with
    the app's name unless it is the reference site)."""
    lives = {RAW_ECHO.name: servers.enter_context(session.live_server(RAW_ECHO.name))}
    for layer in LAYERS:
        key = layer.server_key
        if key not in lives:
            record_as = name if layer.app is None else f"{name} [{key.rsplit(':', 1)[-1]}]"
            lives[key] = servers.enter_context(session.live_server(name, key, record_as))
    return lives


def layer_row(server: str, layer: str, rates: list[float]) -> BreakdownRow:
    """The row of one layer from the rates of every run (one that completed
    nothing included) and a median rate above zero: the cost per message of the
    median rate, and the interval of the median cost from the same runs (the
    rates' order statistics turned into microseconds; stored as ``ci95`` where
    it is a finite 95% CI, the runs kept either way)."""
    rate = stats.median(rates)
    interval = confidence.median_interval(rates)
    ci95 = None
    if interval is not None and interval.is_ci and interval.low > 0:
        ci95 = [round(1e6 / interval.high, 2), round(1e6 / interval.low, 2)]
    return BreakdownRow(
        server=server,
        layer=layer,
        us_per_msg=round(1e6 / rate, 2),
        msgs_per_s=round(rate, 1),
        runs=len(rates),
        ci95=ci95,
        msgs_per_s_runs=[round(r, 1) for r in rates],
    )
