"""What the commands share: option parsing helpers and the one way a command
records a run and reports it.

A measuring command reads as: check its options (:func:`refuse` on a bad one),
build its experiment's plan, :func:`record` the experiment into a new run
folder, then :func:`conclude`: print what it measured, every failed cell and
``results: PATH``, and return the exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from channels_harness.errors import UsageError
from channels_harness.runtime.options import comma_list

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.progress import ProgressColumn

    from channels_harness.experiments.target import Target
    from channels_harness.report.model import Run
    from channels_harness.report.thresholds import Threshold

T = TypeVar("T")

# How an experiment reports progress: a line of text, or a step of a progress bar.
Say = Callable[[str], None]
Step = Callable[[str, int, int], None]


def names(text: str | None) -> list[str] | None:
    """``"a, b"`` -> ``["a", "b"]``; None for an empty option."""
    return comma_list(text) or None


def integers(text: str | None, option: str, what: str = "whole numbers") -> list[int]:
    """``"1, 10"`` -> ``[1, 10]`` (empty for an empty option); UsageError naming
    ``option`` for anything else."""
    try:
        return [int(part) for part in names(text) or []]
    except ValueError:
        raise UsageError(f"{option} takes {what} separated by commas, not {text!r}") from None


def known_servers(text: str | None) -> list[str] | None:
    """The servers ``text`` names (None for an empty option); an unknown name raises
    UnknownServerError, with the choices, before anything starts."""
    from channels_harness.servers.registry import get_spec

    chosen = names(text)
    for name in chosen or ():
        get_spec(name)
    return chosen


def server_names(text: str | None, default: Sequence[str] | None = None) -> list[str]:
    """The servers ``text`` names (checked as :func:`known_servers` does), else
    ``default``, else every installed server."""
    from channels_harness.servers.registry import SERVERS

    chosen = known_servers(text)
    if chosen:
        return chosen
    if default is not None:
        return list(default)
    return [name for name, spec in SERVERS.items() if spec.available()]


def add_results_argument(parser: argparse.ArgumentParser) -> None:
    """``--results``: the folder the run folder goes into."""
    parser.add_argument("--results", default=None, help="results folder (default: results/)")


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """``--host`` (where servers listen and load goes), ``--allow-remote-target``
    and ``--results``."""
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address the servers listen on and the load goes to (default 127.0.0.1); "
        "anything outside loopback is refused without --allow-remote-target",
    )
    parser.add_argument(
        "--allow-remote-target",
        action="store_true",
        help="allow load to a non-loopback --host (only on machines you own)",
    )
    add_results_argument(parser)


def check_host(args: argparse.Namespace) -> None:
    """Refuse a non-loopback ``--host`` before anything starts (TargetRefusedError)."""
    from channels_harness.runtime.loopback import check_target

    check_target(f"ws://{args.host}/", args.allow_remote_target)


def wide_console() -> Console:
    """A console; 160 columns wide when the output is not a terminal, so wide tables
    stay whole in logs and CI output."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=160)


def refuse(console: Console, message: str) -> int:
    """Print ``message`` in red and return 2, the exit code of options that cannot work."""
    console.print(f"[red]{message}[/]", highlight=False)
    return 2


def say(console: Console) -> Say:
    """A progress callback that prints each line as it comes."""
    return lambda text: console.print(text, highlight=False)


@contextlib.contextmanager
def progress_bar(
    console: Console, label: str, columns: Sequence[ProgressColumn] = ()
) -> Iterator[Step]:
    """A transient progress bar for the block; yields the experiment's progress callback."""
    from rich.progress import Progress

    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def step(description: str, done: int, total: int) -> None:
            bar.update(task, description=description, completed=done, total=total)

        yield step


def create_run(args: argparse.Namespace, kind: str, options: dict[str, Any]) -> Run:
    """A new run folder under ``--results`` (default: ``./results``); UsageError when
    the folder cannot be created."""
    from pathlib import Path

    from channels_harness.report.model import Run
    from channels_harness.runtime.paths import RESULTS_DIR

    folder = Path(args.results) if args.results else RESULTS_DIR
    try:
        return Run.create(folder, kind=kind, options=options)
    except OSError as exc:
        raise UsageError(
            f"cannot create the results folder {folder}: {exc.strerror or exc}; "
            "pass --results with a folder you can write to"
        ) from None


def record(
    console: Console,
    args: argparse.Namespace,
    kind: str,
    options: dict[str, Any],
    measure: Callable[[Run], T],
    *,
    timed: bool = True,
    announce: str | None = None,
) -> tuple[Run, T]:
    """Create the run folder, print ``<announce>: PATH`` when asked, and call
    ``measure(run)`` inside :meth:`Run.recording` (complete on success, incomplete
    on any exception). ``timed`` notes ``<kind> took N s`` in the run. Returns the
    run and what ``measure`` returned."""
    run = create_run(args, kind, options)
    if announce:
        console.print(f"{announce}: {run.path}", highlight=False)
    started = time.monotonic()
    with run.recording():
        result = measure(run)
        if timed:
            run.note(f"{kind} took {time.monotonic() - started:.0f} s")
    return run, result


def conclude(
    console: Console,
    run: Run,
    shown: Iterable[RenderableType] = (),
    *,
    failed: bool = False,
    failure_label: str = "failed",
    list_failures: bool = True,
    after: Iterable[str] = (),
) -> int:
    """Print ``shown`` (lines or tables), each cell the run recorded as failed
    (``<failure_label> <cell>: <message>``, unless ``list_failures`` is off because
    ``shown`` lists them), then ``after``, then ``results: PATH``. Returns 1 when a
    cell failed or ``failed`` is set, else 0."""
    for item in shown:
        console.print(item, highlight=False)
    failures = run.data["failures"]
    for failure in failures if list_failures else ():
        console.print(
            f"[red]{failure_label}[/] {failure['cell']}: {failure['message']}", highlight=False
        )
    for line in after:
        console.print(line, highlight=False)
    console.print(f"results: {run.path}", highlight=False)
    return 1 if failures or failed else 0


def add_threshold_arguments(parser: argparse.ArgumentParser) -> None:
    """``--threshold EXPR`` (repeatable) and ``--junit FILE``: what the run must meet."""
    group = parser.add_argument_group(
        "thresholds",
        "every cell that measures a threshold's metric must meet it; a missed threshold "
        "(or one no cell measures) fails the run with exit 1",
    )
    group.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="EXPR",
        help="[STEP:]METRIC<BOUND or >BOUND, repeatable: p50, p90, p95, p99, p999, max (ms or "
        "s), msgs_per_s, handshakes_per_s, errors (a count, or %% of what was sent); e.g. "
        "p99<50ms, hello:p95<20ms, errors<0.1%%, msgs_per_s>1000",
    )
    group.add_argument(
        "--junit", metavar="FILE", help="also write the thresholds as JUnit XML (a miss fails)"
    )


def thresholds_from_args(args: argparse.Namespace) -> list[Threshold]:
    """The parsed ``--threshold`` options, checked before anything starts (UsageError
    for a bad expression, or for ``--junit`` without a threshold)."""
    from channels_harness.report.thresholds import parse_all

    if args.junit and not args.threshold:
        raise UsageError("--junit writes the thresholds' verdicts: give --threshold too")
    return parse_all(args.threshold)


def check_thresholds(
    console: Console, run: Run, thresholds: Sequence[Threshold], junit: str | None
) -> bool:
    """Check ``thresholds`` against ``run``'s rows, store the verdicts in it, print
    their table (and each miss in red) and write ``junit``; True when one missed."""
    from pathlib import Path

    from channels_harness.report import thresholds as checks
    from channels_harness.report.console import section_table
    from channels_harness.report.model import write_atomic_bytes
    from channels_harness.report.sections import THRESHOLDS

    if not thresholds:
        return False
    verdicts = checks.evaluate(run.data, thresholds)
    run.extend(verdicts)
    console.print(section_table(THRESHOLDS, verdicts, left=len(THRESHOLDS.columns)))
    for row in checks.failed(verdicts):
        console.print(f"[red]threshold missed[/] {row.threshold}: {row.reason}", highlight=False)
    if junit:
        title = f"channels-harness {run.data.get('kind', '')} {run.data['run_id']}"
        write_atomic_bytes(Path(junit), checks.to_junit(verdicts, title))
        console.print(f"junit: {junit}", highlight=False)
    return bool(checks.failed(verdicts))


def add_app_arguments(
    parser: argparse.ArgumentParser, *, url: bool = True, allow_remote: bool = True
) -> None:
    """The user's own stack: ``--app``, ``--app-dir``, ``--settings``, ``--ready-path``,
    ``--url`` (with ``url``), ``--insecure``, the path, messages and handshake options,
    and ``--allow-remote-target`` (with ``allow_remote``, for commands without it)."""
    own = parser.add_argument_group(
        "your own app or server (default: the reference app)",
        "{n} and {conn} in a message (and {conn} in --path) become the message's number on "
        "its connection and the connection's number, both from 0",
    )
    own.add_argument(
        "--app", metavar="MODULE:ATTR", help="your ASGI app, e.g. mysite.asgi:application"
    )
    own.add_argument(
        "--app-dir",
        metavar="DIR",
        help="the folder --app is imported from; the server's working directory (default: .)",
    )
    own.add_argument("--settings", metavar="MODULE", help="DJANGO_SETTINGS_MODULE for the server")
    own.add_argument(
        "--ready-path",
        metavar="PATH",
        help="ready when GET PATH answers 2xx/3xx (default: a WebSocket handshake at --path)",
    )
    if url:
        own.add_argument(
            "--url",
            metavar="URL",
            help="a server that is already running: ws://HOST:PORT/PATH (or wss://)",
        )
    own.add_argument(
        "--path", metavar="PATH", help="the WebSocket path to load, e.g. /ws/chat/lobby/"
    )
    _add_traffic_arguments(own)
    if allow_remote:
        own.add_argument(
            "--allow-remote-target",
            action="store_true",
            help="allow --url outside loopback (only servers you own)",
        )


def _add_traffic_arguments(group: argparse._ArgumentGroup) -> None:
    """What clients send: messages, the reply check and the handshake."""
    group.add_argument(
        "--message",
        action="append",
        default=[],
        metavar="TEXT",
        help="a message to send (repeatable: used in turn); a round trip ends at the next "
        "message the server sends",
    )
    group.add_argument("--message-file", metavar="FILE", help="messages, one per line")
    group.add_argument(
        "--expect", metavar="REGEX", help="every reply must match (a mismatch is an error)"
    )
    group.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="an extra handshake header (repeatable)",
    )
    group.add_argument("--origin", metavar="URL", help="the Origin header, e.g. http://127.0.0.1")
    group.add_argument("--subprotocol", metavar="NAME", help="the subprotocol to ask for")
    group.add_argument(
        "--cookie", action="append", default=[], metavar="NAME=VALUE", help="a cookie (repeatable)"
    )
    group.add_argument(
        "--login",
        metavar="USER:PASSWORD",
        help="log in through a Django login form first and send its session cookie",
    )
    group.add_argument("--login-url", metavar="PATH", help="the login form's path, for --login")
    group.add_argument(
        "--insecure", action="store_true", help="wss://: do not check the server's certificate"
    )


def target_from_args(args: argparse.Namespace, *, require_path: bool = True) -> Target:
    """The :class:`~channels_harness.experiments.target.Target` the options describe,
    checked (the app imports, the URL may be loaded): a HarnessError otherwise."""
    from pathlib import Path

    from channels_harness.experiments.target import Target
    from channels_harness.protocol.traffic import build_traffic, read_messages

    traffic = build_traffic(
        messages=read_messages(args.message, args.message_file),
        expect=args.expect,
        headers=args.header,
        origin=args.origin,
        cookies=args.cookie,
        subprotocol=args.subprotocol,
        insecure=args.insecure,
    )
    target = Target(
        app=args.app,
        app_dir=Path(args.app_dir) if args.app_dir else None,
        settings=args.settings,
        url=getattr(args, "url", None),
        path=args.path,
        ready_path=args.ready_path,
        traffic=traffic,
        login=args.login,
        login_url=args.login_url,
        allow_remote=bool(getattr(args, "allow_remote_target", False)),
    )
    if not target.own and (traffic.messages or args.path):
        raise UsageError("--path and --message are for your own app: give --app or --url too")
    return target.check(require_path=require_path)


def add_scenario_argument(parser: argparse.ArgumentParser) -> None:
    """``--scenario-file``: the conversation to run (docs/scenarios.md)."""
    parser.add_argument(
        "--scenario-file",
        metavar="FILE",
        help="a scenario file (TOML, see docs/scenarios.md): connect steps and measured "
        "steps instead of --message; its path, unless --path (or a path in --url) says "
        "otherwise, and its handshake options under the command line's",
    )


def scenario_target_from_args(args: argparse.Namespace) -> Target:
    """The :class:`~channels_harness.experiments.target.Target` of ``--scenario-file``
    for the reference app, ``--app`` or ``--url``, checked: the path is ``--path``,
    else a path in ``--url`` other than ``/``, else the scenario's; the scenario's
    handshake under the command line's (see
    :func:`~channels_harness.protocol.scenario_traffic.handshake_traffic`; ``--login``
    replaces the file's). A HarnessError otherwise."""
    from pathlib import Path

    from channels_harness.experiments.target import Target
    from channels_harness.protocol.scenario import load
    from channels_harness.protocol.scenario_traffic import handshake_traffic
    from channels_harness.protocol.traffic import build_traffic
    from channels_harness.servers.remote import RemoteServer

    if args.message or args.message_file or args.expect:
        raise UsageError(
            "--message, --message-file and --expect exclude --scenario-file: "
            "the scenario's steps say what to send and expect"
        )
    scenario = load(args.scenario_file)
    given = build_traffic(
        headers=args.header,
        origin=args.origin,
        cookies=args.cookie,
        subprotocol=args.subprotocol,
        insecure=args.insecure,
    )
    url = getattr(args, "url", None)
    url_path = RemoteServer(url).path if url is not None else "/"
    return Target(
        app=args.app,
        app_dir=Path(args.app_dir) if args.app_dir else None,
        settings=args.settings,
        url=url,
        path=args.path or (url_path if url_path != "/" else None) or scenario.path,
        ready_path=args.ready_path,
        traffic=handshake_traffic(scenario, given),
        login=args.login or scenario.login,
        login_url=args.login_url or scenario.login_url,
        allow_remote=bool(getattr(args, "allow_remote_target", False)),
        scenario=scenario,
    ).check(require_path=False)
