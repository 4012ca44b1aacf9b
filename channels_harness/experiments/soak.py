"""The soak: a steady mixed load for minutes, and the server watched all along.

For each server and flavour one server runs on the server core and the
generator (:mod:`channels_harness.generators.engine.soak`, on the generator core) holds
an open-loop echo, a connection churn and a room broadcast for ``minutes``.
Every ``sample_s`` the generator prints its counters and the harness samples
the server: RSS and open file descriptors over its whole process tree, and
live consumers from the app's ``GET /stats/``. After the load stops the
harness waits (bounded) for consumers and descriptors to come back.

The verdict is ``stable`` unless one of these flags is raised:

- ``rss growing``: RSS grew more than :data:`RSS_GROWTH_PCT` % over the second
  half of the soak (median of the first three samples of the second half to
  median of the last three, fewer when the half is short; the first half is
  warm-up: caches, pools, arenas);
- ``fds not returned``: after the load, open descriptors stayed more than
  :data:`FD_SLACK` above the count before the load;
- ``consumers leaked``: live consumers did not return to 0 after the load;
- ``errors``: any error in the generator (failed handshakes, lost replies or
  deliveries, connections closed by the server).

Your own app (``plan.target``): ``--app`` under each server, or ``--url`` (a
running server); the echo sends your messages on your path, the churn uses
your handshake, and there is no room. What cannot be read is not measured
(None, never guessed): live consumers (your app has no ``GET /stats/``), and
for ``--url`` also RSS and open descriptors.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psutil

from channels_harness.errors import RunError, ServerError
from channels_harness.experiments.attacks.aftermath import live_consumers
from channels_harness.generators.engine.soak import SoakCounters, SoakLoad, SoakOutcome
from channels_harness.generators.launcher import run_generator
from channels_harness.report.model import Run
from channels_harness.report.rows import SoakSampleRow, SoakSummaryRow
from channels_harness.runtime import pinning, stats
from channels_harness.runtime.loopback import LOOPBACK, check_target
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.redis import layer_env, redis_for
from channels_harness.servers.reference import echo_path, room_path
from channels_harness.servers.registry import get_spec
from channels_harness.servers.remote import RemoteServer

if TYPE_CHECKING:
    from channels_harness.experiments.target import Target

Server = ServerProcess | RemoteServer

GENERATOR_MODULE = "channels_harness.generators.engine.soak"
RSS_GROWTH_PCT = 10.0
FD_SLACK = 5
SETTLE_S = 10.0


@dataclass(frozen=True)
class SoakPlan:
    """Which servers and flavours soak, for how long, under which load."""

    minutes: float
    servers: Sequence[str] = ("daphne",)
    flavours: Sequence[str] = ("async",)
    sample_s: float = 5.0
    echo_rate: float = 200.0
    churn_rate: float = 5.0
    room_members: int = 10
    broadcast_rate: float = 2.0
    layer: str = "memory"
    redis_url: str | None = None
    host: str = LOOPBACK
    allow_remote: bool = False
    target: Target | None = None

    @property
    def own(self) -> bool:
        """Whether the soak is of the user's app or running server."""
        return self.target is not None and self.target.own

    @property
    def duration_s(self) -> float:
        return self.minutes * 60.0


def open_fds(server: Server) -> int | None:
    """Open file descriptors over the server's process tree (None when unreadable, or
    not the harness's to read)."""
    processes = server.processes()
    if not processes:
        return None
    total = 0
    for proc in processes:
        try:
            total += proc.num_fds()
        except psutil.NoSuchProcess:
            continue
        except psutil.Error:
            return None
    return total


def _live(server: Server) -> int | None:
    """Live consumers from the reference app's ``GET /stats/`` (None for any other app)."""
    if not isinstance(server, ServerProcess) or not server.reference_app:
        return None
    with contextlib.suppress(OSError, ValueError):
        return live_consumers(server, timeout=2.0)
    return None


def verdict(samples: list[SoakSampleRow], fds_start: int | None, after: dict[str, Any]) -> str:
    """``stable`` or the flags raised (see the module doc for the rule)."""
    flags = []
    rss = [s.rss_bytes for s in samples if s.rss_bytes]
    half = rss[len(rss) // 2 :]
    if len(half) >= 2:
        ends = max(1, min(3, len(half) // 2))
        head = stats.median(half[:ends])
        tail = stats.median(half[-ends:])
        if head and (tail - head) / head * 100.0 > RSS_GROWTH_PCT:
            flags.append("rss growing")
    if fds_start is not None and after["fds"] is not None and after["fds"] > fds_start + FD_SLACK:
        flags.append("fds not returned")
    if after["live"]:
        flags.append("consumers leaked")
    if after["errors"]:
        flags.append("errors")
    return "; ".join(flags) or "stable"


def _settle(server: Server, fds_start: int | None) -> dict[str, Any]:
    """Wait (at most :data:`SETTLE_S`) for consumers to end and descriptors to return
    (what is not measured counts as settled)."""
    deadline = time.monotonic() + scaled(SETTLE_S)
    while True:
        live, fds = _live(server), open_fds(server)
        settled = live in (0, None) and (
            fds is None or fds_start is None or fds <= fds_start + FD_SLACK
        )
        if settled or time.monotonic() > deadline or not server.running:
            return {"live": live, "fds": fds}
        time.sleep(0.25)


class Sampler:
    """Called with each counters line of the generator: samples the server at that
    moment into a ``soak`` row (added to the run, kept in :attr:`samples`) and says so."""

    def __init__(
        self, run: Run, server: Server, flavour: str, progress: Callable[[str], None]
    ) -> None:
        self.run = run
        self.server = server
        self.flavour = flavour
        self.progress = progress
        self.samples: list[SoakSampleRow] = []
        self.previous = SoakCounters(0.0, 0, 0, 0, 0, 0, 0)

    def __call__(self, line: dict[str, Any]) -> None:
        counters = SoakCounters.from_json(line)
        span = counters.t_s - self.previous.t_s
        received = counters.echo_received - self.previous.echo_received
        row = SoakSampleRow(
            server=self.server.name,
            flavour=self.flavour,
            t_s=counters.t_s,
            rss_bytes=self.server.rss_bytes(),
            open_fds=open_fds(self.server),
            live_consumers=_live(self.server),
            errors=counters.errors,
            msgs_per_s=round(received / span, 1) if span > 0 else None,
            handshakes=counters.handshakes,
            deliveries=counters.deliveries,
        )
        self.previous = counters
        self.samples.append(row)
        self.run.add(row)
        self.progress(
            f"soak {row.server} {row.flavour} t={row.t_s:.0f}s "
            f"rss={_mib(row.rss_bytes)} "
            f"fds={row.open_fds} live={row.live_consumers} errors={row.errors}"
        )


def _mib(size: int | None) -> str:
    return "not measured" if size is None else f"{size / 2**20:.1f} MiB"


def soak_load(server: Server, flavour: str, plan: SoakPlan) -> SoakLoad:
    """What the generator sends to ``server``'s ``flavour`` endpoints (loopback checked);
    for the user's target, its path and prepared traffic (one round trip made first)."""
    if plan.target is not None and plan.target.own:
        return SoakLoad(
            echo_url=check_target(plan.target.ws_url(server), plan.allow_remote),
            room_url="",
            duration_s=plan.duration_s,
            sample_s=plan.sample_s,
            echo_rate=plan.echo_rate,
            churn_rate=plan.churn_rate,
            traffic=plan.target.prepare(server),
        )
    return SoakLoad(
        echo_url=check_target(server.ws_url(echo_path(flavour)), plan.allow_remote),
        room_url=check_target(server.ws_url(room_path("soak", flavour)), plan.allow_remote),
        duration_s=plan.duration_s,
        sample_s=plan.sample_s,
        echo_rate=plan.echo_rate,
        churn_rate=plan.churn_rate,
        room_members=plan.room_members,
        broadcast_rate=plan.broadcast_rate,
    )


def soak_one(
    run: Run,
    server: Server,
    flavour: str,
    plan: SoakPlan,
    cpus: frozenset[int] | None,
    progress: Callable[[str], None],
) -> SoakSummaryRow:
    """Soak one running server with one flavour; rows into ``soak``, the summary returned."""
    load = soak_load(server, flavour, plan)
    fds_start = open_fds(server)
    sampler = Sampler(run, server, flavour, progress)
    timeout = scaled(plan.duration_s + 60.0)
    result = run_generator(GENERATOR_MODULE, load.to_json(), cpus, timeout, on_line=sampler)
    outcome = SoakOutcome.from_json(result)
    if not server.running:
        raise ServerError(f"{server.name} died during the soak")
    errors = outcome.errors + outcome.lost_deliveries
    after = {**_settle(server, fds_start), "errors": errors}
    return summarize(server.name, flavour, plan, sampler.samples, fds_start, after, outcome)


def summarize(
    server: str,
    flavour: str,
    plan: SoakPlan,
    samples: list[SoakSampleRow],
    fds_start: int | None,
    after: dict[str, Any],
    outcome: SoakOutcome,
) -> SoakSummaryRow:
    """The ``soak_summary`` row of one server and flavour, with its :func:`verdict`."""
    rss_start = samples[0].rss_bytes if samples else None
    rss_end = samples[-1].rss_bytes if samples else None
    return SoakSummaryRow(
        server=server,
        flavour=flavour,
        minutes=plan.minutes,
        samples=len(samples),
        rss_start_bytes=rss_start,
        rss_end_bytes=rss_end,
        rss_growth_pct=round((rss_end - rss_start) / rss_start * 100.0, 1)
        if rss_start and rss_end
        else None,
        fds_start=fds_start,
        fds_under_load=samples[0].open_fds if samples else None,
        fds_end=after["fds"],
        live_consumers_end=after["live"],
        errors=after["errors"],
        error_samples=outcome.error_samples,
        echo_sent=outcome.echo_sent,
        echo_p99_ms=outcome.echo_p99_ms,
        handshakes=outcome.handshakes,
        deliveries=outcome.deliveries,
        lost_deliveries=outcome.lost_deliveries,
        generator_cpu=outcome.generator_cpu,
        verdict=verdict(samples, fds_start, after),
    )


def run_soak(
    run: Run, plan: SoakPlan, progress: Callable[[str], None] | None = None
) -> list[SoakSummaryRow]:
    """Soak every server x flavour of ``plan`` into ``run``; return the summaries."""
    say = progress or (lambda text: None)
    cores = pinning.choose()
    run.note(
        f"Soak: {plan.minutes:g} min per server and flavour; echo open loop at "
        f"{plan.echo_rate:g} msgs/s, {plan.churn_rate:g} handshakes/s, a room of "
        f"{plan.room_members} members with {plan.broadcast_rate:g} broadcasts/s, on the "
        f"{plan.layer} layer; samples every {plan.sample_s:g} s. Verdict: 'rss growing' when "
        f"RSS grew over {RSS_GROWTH_PCT:g}% across the second half (median of its first three "
        f"samples to median of the last three); 'fds not returned' when open descriptors "
        f"stayed over {FD_SLACK} above the pre-load count {SETTLE_S:g} s after the load; "
        "'consumers leaked' when live consumers did not return to 0; 'errors' for any "
        "generator error or lost delivery."
    )
    summaries = []
    with redis_for(plan.layer, plan.redis_url) as redis_url:
        env = layer_env(plan.layer, redis_url)
        for name, flavour in _cells(plan):
            cell = {"server": name, "flavour": flavour}
            server = _server(plan, name, env, cores.server)
            try:
                with server:
                    run.record_server(server.info())
                    summary = soak_one(run, server, flavour, plan, cores.generator, say)
            except RunError as exc:
                run.fail("soak", cell, str(exc), server.log_tail())
                continue
            run.add(summary)
            summaries.append(summary)
    return summaries


def _cells(plan: SoakPlan) -> list[tuple[str, str]]:
    """(server, flavour) of every soak: the user's path stands in for the flavour."""
    target = plan.target
    if target is not None and target.own:
        names = ["url"] if target.url is not None else list(plan.servers)
        return [(name, target.label) for name in names]
    return [(name, flavour) for name in plan.servers for flavour in plan.flavours]


def _server(plan: SoakPlan, name: str, env: dict[str, str], cpus: frozenset[int] | None) -> Server:
    """The (not yet started) server of one soak: the reference app, the user's, or ``--url``."""
    target = plan.target
    if target is not None and target.url is not None:
        return RemoteServer(target.url)
    if target is not None and target.own:
        return target.server(name, cpus=cpus, host=plan.host)
    return ServerProcess(get_spec(name), env=env, cpus=cpus, host=plan.host)
