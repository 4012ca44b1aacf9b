"""What every locust process of the harness sets up once, on import.

Importing this module (through :mod:`channels_harness.locust` or a locustfile)
imports locust first, so gevent's monkey-patching happens before any socket
library is loaded, and then:

- gives locust finer latency buckets (:func:`fine_bucket`, resolution
  :data:`RESOLUTION_MS` below 10 ms), in every locust process (workers included);
- adds the ``--ws-*`` command line options the users read (:func:`_add_options`);
  locust's master sends them to its workers with every spawn message, so a
  worker needs no file of its own: the scenario file is read once by the master
  at test start and travels as data (the hidden ``--ws-scenario`` option);
- refuses non-loopback targets at test start (:func:`refusal`): the run stops
  with exit code 2 and a message saying how to allow it (``--ws-allow-remote-target``
  or ``HARNESS_ALLOW_REMOTE_TARGET=1``; ``--ws-allow-target HOST`` allows one
  host, the address ``load --server-bind`` gave the harness's own servers).
  Importing never exits the process;
- in a distributed run, has each worker sample its CPU for the master and the
  master tally what each worker did (:mod:`.locust_workers`);
- with ``--ws-report-file``, writes the error list and the latency resolution
  at exit (a master: also its per-worker record; a worker: what it reported to its
  master, ``<file>.worker-<pid>.json``, when that folder exists on its host).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from typing import Any

import gevent
import gevent.lock
import locust.stats
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, Runner, WorkerRunner

from channels_harness.errors import HarnessError, TargetRefusedError, UsageError
from channels_harness.generators import locust_workers
from channels_harness.protocol import scenario as scenarios
from channels_harness.protocol.traffic import Traffic, build_traffic, login_cookie, read_messages
from channels_harness.runtime import forkguard
from channels_harness.runtime.loopback import check_target
from channels_harness.runtime.options import comma_list

# locust --processes forks its workers from this process: they die with it.
forkguard.arm()

# Latency buckets: steps of RESOLUTION_MS below 10 ms, three significant digits above.
RESOLUTION_DECIMALS = 2
RESOLUTION_MS = 10.0**-RESOLUTION_DECIMALS
BUCKETING = f"{RESOLUTION_MS} ms steps below 10 ms, three significant digits above"

# Exit code of a run stopped because its target was refused or its options cannot work.
REFUSED_EXIT_CODE = 2
ALLOW_OPTION_HINT = "With plain locust the option is --ws-allow-remote-target."

# What this process (a worker) reported to its master: (type, name) -> [requests, failures].
_reported: dict[tuple[str, str], list[int]] = {}
_reported_errors: dict[str, dict[str, Any]] = {}


def fine_bucket(response_time: float) -> float:
    """Locust's bucketing hook with :data:`RESOLUTION_MS` steps under 10 ms.

    Locust's own rounds everything under 100 ms to whole milliseconds, which
    collapses sub-millisecond echo times into 0, 1 and 2. Above 10 ms this keeps
    three significant digits, so the histogram stays small (about 900 keys per
    decade) for distributed runs.
    """
    if response_time < 10:
        return round(response_time, RESOLUTION_DECIMALS)
    digits = 3 - len(str(int(response_time)))
    return float(round(response_time, digits))


locust.stats.bucket_response_time = fine_bucket  # type: ignore[assignment]


def option(environment: Environment, name: str, default: Any) -> Any:
    """The ``--ws-*`` option ``name`` (``ws_timeout``), or ``default`` when locust
    runs without a parser (a library user's Environment)."""
    options = environment.parsed_options
    return getattr(options, name, default) if options is not None else default


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    group = parser.add_argument_group("channels-harness WebSocket users")
    group.add_argument(
        "--ws-payload-size", type=int, default=32, help="message size in bytes (default 32)"
    )
    group.add_argument(
        "--ws-binary", action="store_true", default=False, help="send bytes frames, not text"
    )
    group.add_argument(
        "--ws-path",
        default="",
        help="use this path instead of the user class's (e.g. / for the raw echo baseline)",
    )
    group.add_argument(
        "--ws-timeout",
        type=float,
        default=10.0,
        help="seconds to wait on the socket, and for a reply (10)",
    )
    group.add_argument("--ws-room-size", type=int, default=10, help="fanout: members per room")
    group.add_argument(
        "--ws-fanout-interval",
        type=float,
        default=1.0,
        help="fanout: seconds between two broadcasts of one member (1.0)",
    )
    group.add_argument(
        "--ws-report-file",
        default="",
        help="at exit, write the error list and the latency resolution to this JSON file",
    )
    group.add_argument(
        "--ws-idle-interval",
        type=float,
        default=5.0,
        help="idle: seconds between two messages on a held connection (5.0)",
    )
    group.add_argument(
        "--ws-hosts",
        default="",
        help="comma-separated ws:// base URLs; users pick theirs round-robin (instead of --host)",
    )
    group.add_argument(
        "--ws-allow-remote-target",
        action="store_true",
        default=False,
        help="allow non-loopback targets (also HARNESS_ALLOW_REMOTE_TARGET=1)",
    )
    group.add_argument(
        "--ws-allow-target",
        default="",
        help="comma-separated hosts allowed besides loopback (the address channels-harness "
        "load --server-bind gave its own servers)",
    )
    group.add_argument(
        "--ws-scenario-file",
        default="",
        help="ScenarioUser: the scenario file (TOML, docs/scenarios.md) to run",
    )
    # The scenario as JSON: the master fills it in at test start, for its workers.
    group.add_argument("--ws-scenario", default="", help=argparse.SUPPRESS)
    _add_app_options(group)


def _add_app_options(group: Any) -> None:
    """The options of your own app's traffic (same names as channels-harness's)."""
    group.add_argument(
        "--ws-message",
        action="append",
        default=[],
        help="AppUser: a message to send (repeatable, used in turn)",
    )
    group.add_argument("--ws-message-file", default=None, help="AppUser: messages, one per line")
    group.add_argument(
        "--ws-expect",
        default=None,
        help="AppUser: the reply is the next message matching this regex",
    )
    group.add_argument(
        "--ws-header", action="append", default=[], help="handshake header 'Name: value'"
    )
    group.add_argument("--ws-origin", default=None, help="the handshake's Origin header")
    group.add_argument("--ws-subprotocol", default=None, help="the subprotocol to ask for")
    group.add_argument("--ws-cookie", action="append", default=[], help="a cookie name=value")
    group.add_argument("--ws-login", default=None, help="USER:PASSWORD for a Django login form")
    group.add_argument("--ws-login-url", default=None, help="the login form's path")
    group.add_argument(
        "--ws-insecure", action="store_true", default=False, help="wss://: no certificate check"
    )


_traffic: dict[int, Traffic] = {}
_cookies: dict[tuple[str, str, str, bool], str] = {}
# One login per process: the users that start meanwhile wait for its cookie.
_login_lock = gevent.lock.BoundedSemaphore()


def traffic_of(environment: Environment) -> Traffic:
    """The handshake and messages the ``--ws-*`` options describe (the ``--ws-login``
    session cookie not included: see :func:`session_cookie`), built once per process;
    UsageError for a malformed option."""
    options = environment.parsed_options
    key = id(options)
    if key not in _traffic:
        _traffic[key] = build_traffic(
            messages=read_messages(
                option(environment, "ws_message", []), option(environment, "ws_message_file", None)
            ),
            expect=option(environment, "ws_expect", None),
            headers=option(environment, "ws_header", []),
            origin=option(environment, "ws_origin", None),
            cookies=option(environment, "ws_cookie", []),
            subprotocol=option(environment, "ws_subprotocol", None),
            insecure=bool(option(environment, "ws_insecure", False)),
        )
    return _traffic[key]


def session_cookie(base_url: str, login_url: str, credentials: str, insecure: bool) -> str:
    """The session cookie of logging in as ``credentials`` (USER:PASSWORD) through the
    Django login form at ``login_url`` of ``base_url``'s server, fetched once per
    process and server; UsageError saying what went wrong."""
    http_base = base_url.replace("ws://", "http://", 1).replace("wss://", "https://", 1)
    key = (http_base, login_url, credentials, insecure)
    with _login_lock:
        if key not in _cookies:
            _cookies[key] = login_cookie(http_base, login_url, credentials, insecure=insecure)
        return _cookies[key]


_scenarios: dict[str, scenarios.Scenario] = {}


def scenario_of(environment: Environment, default_file: str | None = None) -> scenarios.Scenario:
    """The scenario to run: the one the master sent (``--ws-scenario``), else the file
    of ``--ws-scenario-file``, else ``default_file``; read once per process.
    UsageError when there is none or it is wrong."""
    data = option(environment, "ws_scenario", "")
    if data:
        if data not in _scenarios:
            _scenarios[data] = scenarios.Scenario.from_json(json.loads(data))
        return _scenarios[data]
    path = option(environment, "ws_scenario_file", "") or default_file
    if not path:
        raise UsageError(
            "ScenarioUser needs a scenario file: --ws-scenario-file FILE (see docs/scenarios.md)"
        )
    key = f"file:{os.path.abspath(path)}"
    if key not in _scenarios:
        _scenarios[key] = scenarios.load(path)
    return _scenarios[key]


def target_hosts(environment: Environment) -> list[str]:
    """The base URLs users connect to: ``--ws-hosts`` if given, else ``--host``."""
    hosts = comma_list(option(environment, "ws_hosts", ""))
    if hosts:
        return hosts
    return [environment.host] if environment.host else []


def allowed_targets(environment: Environment) -> list[str]:
    """The hosts ``--ws-allow-target`` allows besides loopback."""
    return comma_list(option(environment, "ws_allow_target", ""))


def refusal(environment: Environment) -> str | None:
    """Why load may not go to this environment's targets, or None if it may."""
    allow = bool(option(environment, "ws_allow_remote_target", False))
    for host in target_hosts(environment):
        try:
            check_target(host, allow_remote=allow, allowed=allowed_targets(environment))
        except TargetRefusedError as exc:
            return f"{exc} {ALLOW_OPTION_HINT}"
    return None


def stop_run(environment: Environment, message: str) -> None:
    """Stop the whole run with exit code 2 and ``message`` in the log, once (a
    headless run quits; with the web UI the test stops and the UI stays)."""
    if environment.process_exit_code == REFUSED_EXIT_CODE:
        return  # already stopping, and said why
    logging.error("channels-harness: %s", message)
    environment.process_exit_code = REFUSED_EXIT_CODE
    runner = environment.runner
    if runner is None:
        return
    headless = bool(option(environment, "headless", False))
    quit_ = headless and not isinstance(runner, WorkerRunner)
    gevent.spawn(runner.quit if quit_ else runner.stop)


@events.init.add_listener
def _on_init(environment: Environment, runner: Runner | None = None, **_kwargs: Any) -> None:
    """Bring gevent's clock up to date; on a worker, count what it reports to the
    master (listening after locust's own stats listener) and sample its CPU for the
    master; on a master, tally what each worker reports (:mod:`.locust_workers`)."""
    # The event loop caches its time and has not run since the imports: a timer set
    # from that stale time (locust's --run-time) fires early by how long they took
    # (seen: a 2 s run ending after 30 ms on a busy machine).
    gevent.get_hub().loop.update_now()
    if isinstance(runner, WorkerRunner):
        environment.events.report_to_master.add_listener(_count_report)
        locust_workers.start_sampling(runner)
    elif isinstance(runner, MasterRunner):
        locust_workers.start_tallying(environment, runner)


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_kwargs: Any) -> None:
    """Before any user starts: refuse a non-loopback target, and read the files the
    options name once, into the options (a master sends them to its workers, which
    then need no file of their own)."""
    reason = refusal(environment)
    if reason is None and not isinstance(environment.runner, WorkerRunner):
        try:
            _carry_files(environment)
        except HarnessError as exc:
            reason = str(exc)
    if reason is not None:
        stop_run(environment, reason)


def _carry_files(environment: Environment) -> None:
    """``--ws-scenario-file`` into ``--ws-scenario`` (as JSON), ``--ws-message-file``'s
    lines onto ``--ws-message``; UsageError for a file that cannot be read."""
    options = environment.parsed_options
    if options is None:
        return
    path = getattr(options, "ws_scenario_file", "")
    if path:
        options.ws_scenario = json.dumps(scenarios.load(path).to_json())
    messages = getattr(options, "ws_message_file", None)
    if messages:
        options.ws_message = list(read_messages(getattr(options, "ws_message", []), messages))
        options.ws_message_file = None


def _count_report(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    for entry in data.get("stats", []):
        counts = _reported.setdefault((entry["method"], entry["name"]), [0, 0])
        counts[0] += int(entry["num_requests"])
        counts[1] += int(entry["num_failures"])
    for key, error in data.get("errors", {}).items():
        seen = _reported_errors.setdefault(key, {**error, "occurrences": 0})
        seen["occurrences"] += int(error["occurrences"])


def worker_report_path(path: str, pid: int) -> str:
    """Where the worker ``pid`` writes the report of ``--ws-report-file path``."""
    stem = path[: -len(".json")] if path.endswith(".json") else path
    return f"{stem}.worker-{pid}.json"


@events.quitting.add_listener
def _write_report(environment: Environment, **_kwargs: Any) -> None:
    """With ``--ws-report-file``: the errors (message, count) and the resolution used.

    Locust's ``--json-file`` holds the request statistics but not the error
    messages, and its failures CSV can be a second old at exit.
    """
    path = option(environment, "ws_report_file", "")
    runner = environment.runner
    if not path or runner is None or runner.stats is None:
        return
    report: dict[str, Any] = {"resolution_ms": RESOLUTION_MS, "bucketing": BUCKETING}
    errors: list[Any]
    if isinstance(runner, WorkerRunner):
        # A worker's own statistics are reset at every report: keep what it sent.
        # (Its master's folder exists only on the master's host, or a shared disk.)
        path = worker_report_path(path, os.getpid())
        if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            return
        errors = list(_reported_errors.values())
        report["reported"] = [
            {"method": method, "name": name, "requests": counts[0], "failures": counts[1]}
            for (method, name), counts in sorted(_reported.items())
        ]
    else:
        errors = list(runner.stats.serialize_errors().values())
        if isinstance(runner, MasterRunner):
            report.update(locust_workers.report())
    report["errors"] = [
        {key: error[key] for key in ("method", "name", "error", "occurrences")} for error in errors
    ]
    try:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(report, out, indent=1)
    except OSError as exc:
        logging.error("channels-harness: could not write %s: %s", path, exc)
