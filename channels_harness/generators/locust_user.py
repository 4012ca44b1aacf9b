"""The locust user classes of the public API (:mod:`channels_harness.locust`).

:class:`WebSocketUser` gives each user one :class:`~.locust_client.WebSocketClient`
to ``host`` + ``path``, with the handshake its class attributes and the
``--ws-*`` options describe; :class:`ScenarioUser` runs a scenario file with it.
The harness's own users (:mod:`.locust_users`) are subclasses.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import gevent
from locust import User, events, task
from locust.env import Environment
from locust.runners import WorkerRunner

from channels_harness.errors import HarnessError, TargetRefusedError
from channels_harness.generators.locust_client import (
    RECONNECT_PAUSE_S,
    Handshake,
    WebSocketClient,
)
from channels_harness.generators.locust_setup import (
    ALLOW_OPTION_HINT,
    allowed_targets,
    option,
    scenario_of,
    session_cookie,
    stop_run,
    traffic_of,
)
from channels_harness.generators.locust_types import CONNECT_STEP
from channels_harness.protocol.scenario import Scenario
from channels_harness.protocol.traffic import parse_header
from channels_harness.runtime.loopback import check_target
from channels_harness.runtime.options import comma_list

_user_numbers = itertools.count()
# The users of the locust worker with index i are numbered from i * CONN_BLOCK, so
# ``{conn}`` never repeats across the workers of a run (one worker process holds
# far fewer than a million users).
CONN_BLOCK = 1_000_000


def conn_offset(environment: Environment) -> int:
    """Where this process's user numbers start: its worker index times
    :data:`CONN_BLOCK` (0 when it is not a worker)."""
    runner = environment.runner
    index = runner.worker_index if isinstance(runner, WorkerRunner) else 0
    return max(0, int(index)) * CONN_BLOCK


class WebSocketUser(User):
    """A locust user with one WebSocket connection (``self.client``) to its host.

    Class attributes (all optional): ``path`` (``{conn}`` becomes the user's number,
    :attr:`number`: from 0 in one process, from i * 1,000,000 on locust worker i),
    ``name`` (the request name of the handshake and of requests given none; default
    the path), ``origin``, ``headers`` (a dict, or ``"Name: value"`` strings),
    ``cookie``, ``subprotocols``. The ``--ws-*`` options given to locust win over
    them (``--ws-path``, ``--ws-origin``, ``--ws-header``, ...). Override
    :meth:`on_connect` to talk before the tasks, after every (re)connection.
    """

    abstract = True
    path: ClassVar[str] = "/"
    name: ClassVar[str | None] = None
    origin: ClassVar[str | None] = None
    headers: ClassVar[Mapping[str, str] | Sequence[str]] = {}
    cookie: ClassVar[str | None] = None
    subprotocols: ClassVar[Sequence[str]] = ()

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.number = conn_offset(environment) + next(_user_numbers)
        self.client = WebSocketClient(
            environment, "", "", float(self.option("ws_timeout", 10.0)), conn=self.number
        )
        self.client.on_connect = self.on_connect

    def option(self, name: str, default: Any) -> Any:
        """A ``--ws-*`` option, or ``default`` when locust runs without a parser."""
        return option(self.environment, name, default)

    def url_path(self) -> str:
        """The path this user connects to (``{conn}`` left for the client)."""
        return str(self.option("ws_path", "") or self.path)

    def base_url(self) -> str:
        """This user's server: ``--ws-hosts`` round-robin by user number, else ``--host``."""
        hosts = comma_list(self.option("ws_hosts", ""))
        if hosts:
            return hosts[self.number % len(hosts)]
        return self.host or ""

    def url(self) -> str:
        """The user's server (:meth:`base_url`) joined with :meth:`url_path`."""
        return f"{self.base_url().rstrip('/')}/{self.url_path().lstrip('/')}"

    def request_name(self) -> str:
        """The name of the handshake and of requests given no name of their own."""
        return self.name or self.url_path()

    def handshake(self) -> Handshake:
        """The handshake the class attributes describe."""
        pairs = (
            list(self.headers.items())
            if isinstance(self.headers, Mapping)
            else [parse_header(text) for text in self.headers]
        )
        if self.origin:
            pairs.append(("Origin", self.origin))
        if self.cookie:
            pairs.append(("Cookie", self.cookie))
        return Handshake(tuple(pairs), tuple(self.subprotocols))

    def login(self) -> tuple[str | None, str | None]:
        """``(USER:PASSWORD, login path)`` to log in with before connecting (``--ws-login``)."""
        return self.option("ws_login", None), self.option("ws_login_url", None)

    def on_start(self) -> None:
        """Stop the run with a clear message when the target is not allowed (a host
        typed in the web UI, or a worker's, are known only now) or an option is wrong;
        give the client its URL, name and handshake (logging in once per process)."""
        self.client.url = self.url()
        self.client.name = self.request_name()
        allow = bool(self.option("ws_allow_remote_target", False))
        problem = None
        try:
            check_target(
                self.client.url, allow_remote=allow, allowed=allowed_targets(self.environment)
            )
            self.client.handshake = self._full_handshake()
        except TargetRefusedError as exc:
            problem = f"{exc} {ALLOW_OPTION_HINT}"
        except HarnessError as exc:
            problem = str(exc)
        if problem is not None:
            self._refuse(problem)

    def _full_handshake(self) -> Handshake:
        traffic = traffic_of(self.environment)
        subprotocols = (traffic.subprotocol,) if traffic.subprotocol else ()
        given = Handshake(traffic.headers, subprotocols, traffic.insecure)
        handshake = given.over(self.handshake())
        credentials, login_url = self.login()
        if credentials:
            cookie = session_cookie(
                self.base_url(), login_url or "/", credentials, handshake.insecure
            )
            handshake = Handshake((("Cookie", cookie),)).over(handshake)
        return handshake

    def on_connect(self) -> None:
        """Called after each successful handshake, before the connection is used."""

    def _refuse(self, message: str) -> None:
        """Stop the whole run with exit code 2 and ``message``; this user's client
        never connects (raising here would print a traceback per user)."""
        stop_run(self.environment, message)
        self.client.refused = message

    def on_stop(self) -> None:
        self.client.abandon()


class ScenarioUser(WebSocketUser):
    """Runs a scenario file (docs/scenarios.md): the ``[[connect]]`` steps after every
    handshake (``WS-CONNECT-STEP`` requests), then the ``[[step]]`` steps in order,
    round after round, each a ``WS`` request named after its step (``WS-PUSH`` for
    push latencies). The file is ``--ws-scenario-file``, else the class's
    ``scenario_file``; in a distributed run the master sends it to the workers."""

    abstract = True
    scenario_file: ClassVar[str | Path | None] = None

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.scenario: Scenario | None = None

    def wait_time(self) -> float:
        return 0.0  # a step's think time is the scenario's

    def on_start(self) -> None:
        problem = None
        try:
            self.scenario = scenario_of(self.environment, self.default_file())
        except HarnessError as exc:
            problem = str(exc)
        if problem is not None:
            self._refuse(problem)
            return
        self.client.scenario = self.scenario
        super().on_start()

    @classmethod
    def default_file(cls) -> str | None:
        """The class's ``scenario_file``, as a string."""
        return str(cls.scenario_file) if cls.scenario_file else None

    def _scenario(self) -> Scenario:
        assert self.scenario is not None, "on_start loads the scenario"
        return self.scenario

    def url_path(self) -> str:
        return str(self.option("ws_path", "") or self._scenario().path)

    def request_name(self) -> str:
        return self.name or self._scenario().name

    def handshake(self) -> Handshake:
        scenario = self._scenario()
        pairs = list(scenario.headers)
        if scenario.origin:
            pairs.append(("Origin", scenario.origin))
        if scenario.cookie:
            pairs.append(("Cookie", scenario.cookie))
        return Handshake(tuple(pairs), scenario.subprotocols)

    def login(self) -> tuple[str | None, str | None]:
        credentials, login_url = super().login()
        scenario = self._scenario()
        if credentials:
            return credentials, login_url or scenario.login_url
        return scenario.login, scenario.login_url

    def on_connect(self) -> None:
        """The connect steps; after one fails, drop the connection and pause."""
        conversation = self.client.conversation
        assert conversation is not None
        while conversation.connecting:
            step, n = conversation.next_step()
            if self.client.run_step(step, n, request_type=CONNECT_STEP) is None:
                self.client.abandon()
                gevent.sleep(RECONNECT_PAUSE_S)
                return

    @task
    def next_step(self) -> None:
        """One measured step, after its think time."""
        if not self.client.ensure_connected():
            return
        conversation = self.client.conversation
        assert conversation is not None
        step, n = conversation.next_step()
        think = conversation.think_s(step)
        if think > 0:
            gevent.sleep(think)
        self.client.run_step(step, n)


@events.test_start.add_listener
def _check_scenarios(environment: Environment, **_kwargs: Any) -> None:
    """Before any user starts: every ScenarioUser class of the run has its scenario."""
    if environment.process_exit_code is not None or isinstance(environment.runner, WorkerRunner):
        return
    for user_class in environment.user_classes:
        if issubclass(user_class, ScenarioUser):
            try:
                scenario_of(environment, user_class.default_file())
            except HarnessError as exc:
                stop_run(environment, str(exc))
                return
