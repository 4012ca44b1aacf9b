"""Load runs with locust: one cell per (server, flavour), each on a fresh server.

For every cell :func:`run_load` starts the server pinned to the server core(s)
(:func:`channels_harness.runtime.pinning.choose`), runs locust headless on the other
core(s) against it (:func:`~.locustproc.run_locust`), reads the statistics
locust writes at shutdown, and adds one ``locust`` row to the :class:`Run`. A
cell that could not be measured (server died, locust crashed) is recorded with
:meth:`Run.fail` and the run goes on. For the scenarios a plain echo server can
serve (echo, churn, idle) a baseline cell runs against the raw no-ASGI echo
server (``raw-echo``), to show what the client itself can do on this machine.

Scale: ``layer`` chooses the app's channel layer (``memory``, ``redis``,
``redis-pubsub``; one Redis for the whole run, from ``redis_url`` or a local
redis-server started and stopped by :func:`~channels_harness.servers.redis.redis_for`),
``server_processes`` starts that many processes of the server sharing the Redis
layer, the users spread round-robin over them, and ``workers`` runs locust as
a master with that many worker processes.

Other hosts (:class:`~.workers.RemoteWorkers`, ``load --master-bind ADDR
--expect-workers N``): each cell's master binds that address and waits for N
workers started there with ``channels-harness worker``; its ``server_bind``
puts the servers on an address those workers reach (loopback stays the default).
Each row carries every worker's own figures (``per_worker``) beside the merged
ones; a worker lost during a cell fails the cell, and the run goes on. When the
workers never came (no cell of the run had them yet), the run stops with
:class:`~channels_harness.errors.WorkersMissingError` instead of waiting again in
every cell.

Your own app (a :class:`~channels_harness.experiments.target.Target` with
``--app``): each cell starts your app under the server and runs the ``app``
scenario (``locustfiles/app.py``: your path, your messages, your handshake);
with ``--url`` the one cell loads the running server, whose CPU and memory
are not measured (None). Before locust starts, one round trip checks that the
app answers as the options say.

A scenario file or your own locustfile (a :class:`~.custom.CustomLoad`): one
cell per server (or once at the URL), one row per request name (see
:mod:`.custom`), no raw echo baseline.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from channels_harness.errors import LocustRunError, RunError, ServerError, WorkersMissingError
from channels_harness.experiments.load.custom import CustomLoad, missing_steps, step_rows
from channels_harness.experiments.load.locustproc import (
    APP_SCENARIO,
    SCENARIOS,
    LocustResult,
    run_locust,
    user_class,
)
from channels_harness.experiments.load.workers import RemoteWorkers, figures
from channels_harness.generators.locust_types import HANDSHAKE, MESSAGE
from channels_harness.report.model import Run
from channels_harness.report.rows import LocustRow
from channels_harness.runtime import pinning
from channels_harness.runtime.cpu import generator_bound
from channels_harness.runtime.loopback import LOOPBACK
from channels_harness.servers.fleet import Fleet
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.redis import LAYERS, layer_env, redis_for
from channels_harness.servers.registry import RAW_ECHO, get_spec
from channels_harness.servers.remote import RemoteServer
from channels_harness.servers.userapp import Readiness

if TYPE_CHECKING:
    from channels_harness.experiments.target import Target

__all__ = [
    "BASELINE_FLAVOUR",
    "SCENARIOS",
    "LocustRunError",
    "check_scale",
    "run_cell",
    "run_load",
    "user_class",
]

SECTION = "locust"
# The flavour recorded for the raw echo baseline (no consumer at all).
BASELINE_FLAVOUR = "none"
# Which request type a scenario's figures describe.
PRIMARY = {
    "echo": MESSAGE,
    "churn": HANDSHAKE,
    "fanout": MESSAGE,
    "idle": MESSAGE,
    APP_SCENARIO: MESSAGE,
}
# Scenarios the raw echo server can serve (it echoes on any path; it has no rooms).
BASELINE_SCENARIOS = ("echo", "churn", "idle")

Progress = Callable[[str, int, int], None]


def _cpus(cpus: frozenset[int] | None) -> list[int] | None:
    return sorted(cpus) if cpus else None


def check_scale(layer: str, server_processes: int, workers: int) -> None:
    """Raise :class:`LocustRunError` for a layer, process or worker count that cannot work."""
    if layer not in LAYERS:
        raise LocustRunError(f"unknown layer {layer!r}; choose one of {', '.join(LAYERS)}")
    if server_processes < 1 or workers < 0:
        raise LocustRunError("server processes must be at least 1 and workers at least 0")
    if server_processes > 1 and layer == "memory":
        raise LocustRunError(
            f"{server_processes} server processes need a shared channel layer: with the "
            "in-memory layer each process has its own, and room members connected to "
            "different processes never hear each other. Use --layer redis or redis-pubsub."
        )


def _server_cpu(result: LocustResult) -> float | None:
    """The servers' CPU over the window, summed over their processes."""
    shares = [share for name, share in result.watched_cpu.items() if name.startswith("server")]
    return round(sum(shares), 3) if shares else None


def _bound(result: LocustResult) -> tuple[bool | None, str | None]:
    """Whether the generator limited the cell, or None and why it is not known."""
    if result.generator_cpu is None:
        # Closed-loop users have no target rate to fall short of.
        return None, "locust ended before its steady window, so its CPU was not measured"
    return generator_bound(result.generator_cpu), None


def build_row(
    result: LocustResult,
    *,
    scenario: str,
    server: str,
    flavour: str,
    users: int,
    processes: int,
    duration_s: int,
    layout: pinning.Pinning,
    layer: str = "memory",
    server_processes: int = 1,
    workers: int = 0,
    request_type: str | None = None,
    master_bind: str | None = None,
) -> LocustRow:
    """The ``locust`` section row of one measured cell (its figures those of
    ``request_type``, default the scenario's primary type; with ``master_bind``,
    workers on other hosts)."""
    summaries = result.summaries
    request_type = request_type or PRIMARY[scenario]
    primary = summaries.get(request_type)
    handshake = summaries.get(HANDSHAKE)
    busiest = result.generator_cpu
    bound, unknown = _bound(result)
    row = LocustRow(
        scenario=scenario,
        server=server,
        flavour=flavour,
        layer=layer,
        server_processes=server_processes,
        workers=workers,
        users=users,
        processes=processes,
        duration_s=duration_s,
        request_type=request_type,
        requests=primary.requests if primary else 0,
        failures=result.failures,
        msgs_per_s=round(primary.per_s, 1) if primary else 0.0,
        avg_ms=round(primary.avg_ms, 3) if primary else None,
        p50_ms=primary.p50_ms if primary else None,
        p95_ms=primary.p95_ms if primary else None,
        p99_ms=primary.p99_ms if primary else None,
        handshakes=handshake.requests - handshake.failures if handshake else 0,
        generator_cpu=round(busiest, 3) if busiest is not None else None,
        generator_cpu_total=round(result.generator_cpu_total, 3)
        if result.generator_cpu_total is not None
        else None,
        generator_bound=bound,
        server_cpu=_server_cpu(result),
        resolution_ms=result.report.get("resolution_ms"),
        server_cpus=_cpus(layout.server),
        generator_cpus=_cpus(layout.generator),
        errors=result.errors,
        command=result.command,
    )
    if unknown is not None:
        row.generator_bound_unknown = unknown
    if workers:
        row.worker_requests = result.worker_requests
        row.master_requests = result.requests
        row.worker_commands = result.worker_commands
    if result.report.get("workers"):
        _add_workers(row, result, request_type, remote=master_bind is not None)
        row.master_bind = master_bind
    return row


def _add_workers(row: LocustRow, result: LocustResult, request_type: str, remote: bool) -> None:
    """Each worker's figures on ``row``; for ``remote`` workers (not measured here)
    their CPU also goes into the row's generator CPU and whether it was bound, and
    the sum of what they reported to the master is ``worker_requests``."""
    row.per_worker = figures(result.report, result.window, request_type)
    if not remote:
        return
    row.worker_requests = sum(worker.requests for worker in row.per_worker)
    shares = [worker.cpu for worker in row.per_worker]
    known = [share for share in shares if share is not None]
    if row.generator_cpu is None:
        return  # the window was not measured: the row says so already
    if len(known) < len(shares):
        row.generator_bound = None
        row.generator_bound_unknown = "a worker's CPU was not sampled over the steady window"
        return
    row.generator_cpu = round(max([row.generator_cpu, *known]), 3)
    row.generator_cpu_total = round((row.generator_cpu_total or 0.0) + sum(known), 3)
    row.generator_bound = generator_bound(row.generator_cpu)


def _watch_name(index: int, count: int) -> str:
    return "server" if count == 1 else f"server-{index + 1}"


def run_cell(
    run: Run,
    *,
    server: str,
    flavour: str,
    scenario: str,
    users: int,
    duration_s: int,
    processes: int = 1,
    spawn_rate: float | None = None,
    options: tuple[str, ...] = (),
    layout: pinning.Pinning | None = None,
    repeat: int = 0,
    layer: str = "memory",
    redis_url: str | None = None,
    server_processes: int = 1,
    workers: int = 0,
    allow_remote: bool = False,
    target: Target | None = None,
    custom: CustomLoad | None = None,
    remote: RemoteWorkers | None = None,
) -> list[LocustRow]:
    """Measure one cell (its ``repeat``-th time) on fresh servers (``server_processes``
    of them, on ``layer`` with the Redis at ``redis_url``) running the reference app or
    ``target``'s (at ``target``'s URL: no server started), with the bundled scenario or
    ``custom``'s load, its workers local or ``remote``; return its rows (one; ``custom``:
    one per request name), none when it failed (then recorded with :meth:`Run.fail`,
    with the servers' log tails; too few workers is also raised, once recorded)."""
    workers = remote.expect if remote is not None else workers
    check_scale(layer, server_processes, workers)
    layout = layout or pinning.choose()
    baseline = server == RAW_ECHO.name
    cell: dict[str, Any] = dict(
        scenario=custom.name if custom else scenario,
        server=server,
        flavour=flavour,
        users=users,
        repeat=repeat,
        layer=layer,
        server_processes=server_processes,
        workers=workers,
    )
    prefix = run.path / SECTION / _cell_name(cell, processes) / "locust"
    locust = functools.partial(
        run_locust,
        scenario=scenario,
        flavour="async" if baseline else flavour,
        users=users,
        duration_s=duration_s,
        prefix=prefix,
        processes=processes,
        workers=workers,
        spawn_rate=spawn_rate,
        cpus=layout.generator,
        options=_cell_options(options, baseline, target, custom),
        allow_remote=allow_remote,
        locustfile=custom.locustfile if custom else None,
        remote=remote,
    )
    servers = _servers(
        server, server_processes, layer_env(layer, redis_url), layout, target, remote
    )
    checked = target if custom is None or custom.steps or given_path(target) else None
    try:
        result, rss_before = _measure(run, servers, locust, checked)
    except RunError as exc:
        run.fail(SECTION, cell, str(exc), servers.log_tail())
        if isinstance(exc, WorkersMissingError):
            raise
        return []
    row = _cell_row(result, cell, processes, duration_s, layout, custom, remote)
    _add_cell_facts(row, repeat=repeat, output=prefix.relative_to(run.path))
    _add_idle_memory(row, result, rss_before)
    return _add_rows(run, cell, row, result, custom)


def _cell_row(
    result: LocustResult,
    cell: dict[str, Any],
    processes: int,
    duration_s: int,
    layout: pinning.Pinning,
    custom: CustomLoad | None,
    remote: RemoteWorkers | None,
) -> LocustRow:
    """:func:`build_row` for the ``cell`` run_cell measured."""
    return build_row(
        result,
        scenario=str(cell["scenario"]),
        server=cell["server"],
        flavour=cell["flavour"],
        users=cell["users"],
        processes=processes,
        duration_s=duration_s,
        layout=layout,
        layer=cell["layer"],
        server_processes=cell["server_processes"],
        workers=cell["workers"],
        request_type=MESSAGE if custom else None,
        master_bind=remote.host if remote is not None else None,
    )


def _add_rows(
    run: Run,
    cell: dict[str, Any],
    row: LocustRow,
    result: LocustResult,
    custom: CustomLoad | None,
) -> list[LocustRow]:
    """Add the cell's ``row`` to ``run`` or, for ``custom``, its rows per request name
    (the cell failed when a step never ended); return what was added."""
    if custom is None:
        run.add(row)
        return [row]
    rows = step_rows(result, custom, row)
    for each in rows:
        run.add(each)
    _check_steps(run, cell, rows, custom, int(row.duration_s or 0))
    return rows


def _cell_options(
    options: tuple[str, ...], baseline: bool, target: Target | None, custom: CustomLoad | None
) -> tuple[str, ...]:
    """``options`` plus what the cell's locust needs: the raw echo's path for the
    baseline, ``custom``'s options, or your app's (``target``)."""
    if baseline:
        return (*options, "--ws-path", "/")
    if custom is not None:
        return (*options, *custom.options)
    return (*options, *app_options(target))


def _check_steps(
    run: Run, cell: dict[str, Any], rows: list[LocustRow], custom: CustomLoad, duration_s: int
) -> None:
    """Record the cell as failed when a measured step never ended, or nothing was counted."""
    missing = missing_steps(rows, custom)
    if missing:
        run.fail(
            SECTION,
            cell,
            f"step {', '.join(map(repr, missing))} never ended in {duration_s} s, neither "
            "well nor with an error: does the run last longer than the step's timeout "
            "and think time?",
        )
    elif not rows:
        run.fail(SECTION, cell, f"locust counted no request in {duration_s} s")


def _servers(
    name: str,
    processes: int,
    env: dict[str, str],
    layout: pinning.Pinning,
    target: Target | None,
    remote: RemoteWorkers | None = None,
) -> Fleet | RemoteServer:
    """What one cell loads: ``processes`` of server ``name`` (with ``target``'s app, if
    any) on the server cores, listening on ``remote``'s server address (default
    loopback; the reference app told to answer there), or the running server at
    ``target``'s URL."""
    host = remote.server_bind if remote is not None and remote.server_bind else LOOPBACK
    if host != LOOPBACK:
        env = {**env, "DJANGO_ALLOWED_HOSTS": host}
    if target is not None and target.url is not None:
        return RemoteServer(target.url)
    options = target.server_options() if target is not None else {}
    if target is not None and target.app is not None and target.path is None:
        # Your locustfile's users choose their paths: ready at the first HTTP answer.
        options["readiness"] = Readiness(None, target.ready_path, target.traffic)
    return Fleet(get_spec(name), processes, env, layout.server, host=host, server_options=options)


def _cell_name(cell: dict[str, Any], processes: int) -> str:
    """The folder name of one cell's locust files (a path as flavour made safe)."""
    name = (
        f"{cell['scenario']}-{cell['server']}-{cell['flavour']}-{cell['layer']}"
        f"-s{cell['server_processes']}-u{cell['users']}-p{processes}-w{cell['workers']}"
        f"-r{cell['repeat']}"
    )
    return re.sub(r"[^\w.-]+", "_", name)


def app_options(target: Target | None) -> tuple[str, ...]:
    """The ``--ws-*`` locust options that give AppUser ``target``'s path, messages and
    handshake (none for the reference app)."""
    if target is None or not target.own:
        return ()
    traffic = target.traffic
    options = [f"--ws-path={target.label}", *(f"--ws-message={m}" for m in traffic.messages)]
    options += [f"--ws-expect={traffic.expect}"] if traffic.expect else []
    for name, value in traffic.headers:
        options.append(
            f"--ws-origin={value}" if name.lower() == "origin" else f"--ws-header={name}: {value}"
        )
    options += [f"--ws-subprotocol={traffic.subprotocol}"] if traffic.subprotocol else []
    options += ["--ws-insecure"] if traffic.insecure else []
    if target.login is not None:
        options += [f"--ws-login={target.login}", f"--ws-login-url={target.login_url}"]
    return tuple(options)


def given_path(target: Target | None) -> bool:
    """Whether the command line names a path to load: ``--path``, or ``--url`` with one."""
    if target is None or not target.own:
        return False
    if target.url is not None:
        return RemoteServer(target.url).path not in ("", "/")
    return target.path is not None


def custom_options(target: Target | None) -> tuple[str, ...]:
    """The ``--ws-*`` locust options for a scenario file or your locustfile from
    ``target``'s command line: its handshake and messages, and its path only when
    one is given (the file or your user classes name theirs)."""
    options = list(app_options(target))
    if not given_path(target):
        options = [o for o in options if not o.startswith("--ws-path=")]
    return tuple(options)


def _measure(
    run: Run,
    servers: Fleet | RemoteServer,
    locust: Callable[..., LocustResult],
    target: Target | None = None,
) -> tuple[LocustResult, int | None]:
    """Start ``servers`` (recorded in ``run``), check ``target`` answers (one round trip),
    run ``locust`` against them watching their CPU, stop them; return locust's result and
    the servers' resident memory before the load (None when not measured).
    :class:`ServerError` when a server exited during the run."""
    with servers:
        members: list[ServerProcess | RemoteServer] = (
            list(servers.members) if isinstance(servers, Fleet) else [servers]
        )
        for member in members:
            run.record_server(member.info())
        if target is not None and target.own:
            target.prepare(members[0])
        watch = {_watch_name(i, len(members)): p.pid for i, p in enumerate(members)}
        sizes = [member.rss_bytes() for member in members]
        rss_before = sum(size for size in sizes if size is not None) if None not in sizes else None
        hosts = tuple(member.ws_url("/").rstrip("/") for member in members)
        result: LocustResult = locust(
            host=hosts[0],
            hosts=hosts if len(hosts) > 1 else (),
            watch={name: pid for name, pid in watch.items() if pid is not None},
        )
        for member in members:
            code = member.popen.poll() if member.popen is not None else None
            if code is not None:
                raise ServerError(f"{member.name} exited during the run (code {code})")
    return result, rss_before


def _add_cell_facts(row: LocustRow, *, repeat: int, output: Path) -> None:
    """The repeat number, the machine's load and where locust's files are."""
    row.repeat = repeat
    # Other work on the machine shows here (locust and the server add about 2).
    row.machine_load_1m = round(os.getloadavg()[0], 2)
    row.output = str(output)


def _add_idle_memory(row: LocustRow, result: LocustResult, rss_before: int | None) -> None:
    """For the idle scenario: the servers' memory before and with the connections
    open at the end of the window, and the growth per connection."""
    rss = [size for key, size in result.watched_rss.items() if key.startswith("server")]
    held = sum(rss) if rss else None
    if row.scenario == "idle" and row.handshakes and held is not None and rss_before is not None:
        # Connections still open at the end of the window, over the server's growth.
        row.server_rss_idle_bytes = rss_before
        row.server_rss_bytes = held
        row.rss_per_connection_bytes = round((held - rss_before) / row.handshakes)


def _cells(
    servers: Sequence[str], flavours: Sequence[str], scenario: str, baseline: bool
) -> list[tuple[str, str]]:
    """The (server, flavour) cells of a run, the raw echo baseline last when asked
    for (by name, or by ``baseline`` for a scenario it can serve); a clear error
    for an unknown scenario, flavour or server."""
    if scenario not in SCENARIOS:
        raise LocustRunError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    for flavour in flavours:
        user_class(scenario, flavour)
    for server in servers:
        get_spec(server)
    cells = [
        (server, flavour) for server in servers if server != RAW_ECHO.name for flavour in flavours
    ]
    if RAW_ECHO.name in servers or (baseline and scenario in BASELINE_SCENARIOS):
        if scenario not in BASELINE_SCENARIOS:
            raise LocustRunError(f"the raw echo server has no rooms: it cannot run {scenario}")
        cells.append((RAW_ECHO.name, BASELINE_FLAVOUR))
    return cells


def _run_cells(
    servers: Sequence[str],
    flavours: Sequence[str],
    scenario: str,
    baseline: bool,
    target: Target | None,
    custom: CustomLoad | None,
) -> tuple[str, list[tuple[str, str]]]:
    """The scenario the rows are named after and the (server, flavour) cells: for
    ``custom`` or your own ``target`` one per server (or ``url``), else :func:`_cells`."""
    if custom is None and (target is None or not target.own):
        return scenario, _cells(servers, flavours, scenario, baseline)
    url = target is not None and target.own and target.url is not None
    names = ["url"] if url else [get_spec(server).name for server in servers]
    if custom is not None:
        return custom.name, [(name, custom.flavour) for name in names]
    assert target is not None
    return APP_SCENARIO, [(name, target.label) for name in names]


def run_load(
    run: Run,
    *,
    servers: Sequence[str],
    flavours: Sequence[str],
    scenario: str = "echo",
    users: int = 50,
    duration_s: int = 20,
    processes: int = 1,
    progress: Progress | None = None,
    baseline: bool = True,
    spawn_rate: float | None = None,
    options: tuple[str, ...] = (),
    repeats: int = 1,
    layer: str = "memory",
    redis_url: str | None = None,
    server_processes: int = 1,
    workers: int = 0,
    allow_remote: bool = False,
    target: Target | None = None,
    custom: CustomLoad | None = None,
    remote: RemoteWorkers | None = None,
) -> list[LocustRow]:
    """Measure every (server, flavour) cell, plus the raw echo baseline when
    ``baseline`` and the scenario allows, ``repeats`` times (rounds over all
    cells, so drift on the machine hits every cell alike); return the rows.
    For your own ``target``: the ``app`` scenario per server (or once at its URL).
    With ``custom`` (a scenario file or your locustfile): one cell per server
    (or once at the URL), rows per request name. With a Redis ``layer`` one Redis
    serves the whole run: the one at ``redis_url`` (which must answer), else a local
    redis-server started here. ``remote`` workers: see the module doc."""
    check_scale(layer, server_processes, remote.expect if remote is not None else workers)
    scenario, cells = _run_cells(servers, flavours, scenario, baseline, target, custom)
    layout = pinning.choose()
    if layout.pinned:
        run.note(
            f"locust {scenario}: servers pinned to cores {_cpus(layout.server)}, "
            f"locust to cores {_cpus(layout.generator)}"
        )
    else:
        run.note(f"locust {scenario}: fewer than 2 usable cores, server and locust share them")
    rounds = [(repeat, server, flavour) for repeat in range(repeats) for server, flavour in cells]
    rows: list[LocustRow] = []
    # Before any cell had its remote workers, too few of them stops the run.
    came = remote is None
    with redis_for(layer, redis_url) as url:
        if url is not None:
            run.note(f"locust {scenario}: channel layer {layer} on Redis {url}")
        cell = functools.partial(
            run_cell,
            run,
            scenario=scenario,
            users=users,
            duration_s=duration_s,
            processes=processes,
            spawn_rate=spawn_rate,
            options=options,
            layout=layout,
            layer=layer,
            redis_url=url,
            server_processes=server_processes,
            workers=workers,
            allow_remote=allow_remote,
            target=target,
            custom=custom,
            remote=remote,
        )
        for done, (repeat, server, flavour) in enumerate(rounds):
            if progress is not None:
                progress(f"locust {scenario} {server} {flavour} #{repeat + 1}", done, len(rounds))
            try:
                rows += cell(server=server, flavour=flavour, repeat=repeat)
            except WorkersMissingError:
                if not came:
                    raise
            else:
                came = True
    if progress is not None:
        progress(f"locust {scenario} done", len(rounds), len(rounds))
    return rows
