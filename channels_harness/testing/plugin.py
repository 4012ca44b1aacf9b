"""The harness's pytest plugin: live servers running your app, in your own test suite.

Installing channels-harness is enough: pytest loads this module through the
``pytest11`` entry point. Every option is prefixed so it clashes with nothing:

- ``--channels-app MODULE:ATTR`` (ini ``channels_app``): your ASGI app (default:
  the harness's reference app);
- ``--channels-app-dir DIR`` (ini ``channels_app_dir``): where it is imported
  from and the server's working directory (default: pytest's rootdir);
- ``--channels-settings MODULE`` (ini ``channels_settings``): its
  ``DJANGO_SETTINGS_MODULE``;
- ``--channels-servers daphne,uvicorn`` (ini ``channels_servers``): the servers;
- ``--channels-ready-path PATH`` (ini ``channels_ready_path``): ready when
  ``GET PATH`` answers (default: any HTTP answer on ``/``);
- ``--tls``: the repository's suites run every server over TLS (wss://, https://)
  with certificates made at start.

Fixture ``channels_server``: a running server (a
:class:`~channels_harness.servers.process.ServerProcess`) with your app,
parametrized over the chosen servers (test ids are the server names, default
daphne and uvicorn), one process per server per session, restarted if a test
left it dead; it has ``.name``, ``.version``, ``.ws_url(path)`` and
``.http_url(path)``. Your app runs in a clean environment, not pytest's.

The repository's own suites use the same plugin: ``server_name`` (or
``server``) runs once per server of ``--channels-servers`` (default: every
installed server), ``flavour`` once per consumer flavour of
``--channels-flavours``, ``probe_flavour`` once per probe flavour; ``server``
is the reference app under that server. With ``--channels-url ws://.../PATH``
(what ``channels-harness conformance --url`` passes) ``server`` is that
running server instead, loaded only through its echo endpoint at PATH:
``server_name`` and ``flavour`` are ``url``, and the cases that need the
reference app's probe consumer (or the features it reads) are skipped as N/A.
``redis_url`` is a Redis server for
the Redis channel layers (``HARNESS_REDIS_URL``, or a local redis-server for
the session); :func:`require_or_skip` skips a test whose outside dependency is
missing, or fails it under ``HARNESS_REQUIRE_ALL=1``. Every server is stopped
at the end of the session, pass or fail.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from channels_harness.errors import HarnessError
from channels_harness.runtime.options import comma_list
from channels_harness.servers.pool import ServerPool
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.reference import FLAVOURS, PROBE_FLAVOURS
from channels_harness.servers.registry import FOCUS_SERVERS, SERVERS, get_spec
from channels_harness.servers.remote import REMOTE_NAME, RemoteServer
from channels_harness.servers.userapp import Readiness, check_app

# (option, ini key, help); the option's value wins over the ini key.
OPTIONS = (
    ("--channels-app", "channels_app", "your ASGI app as MODULE:ATTR (default: the reference app)"),
    ("--channels-app-dir", "channels_app_dir", "folder --channels-app is imported from"),
    ("--channels-settings", "channels_settings", "DJANGO_SETTINGS_MODULE of your app"),
    (
        "--channels-servers",
        "channels_servers",
        f"comma-separated servers (known: {', '.join(SERVERS)}); default daphne,uvicorn for "
        "channels_server, every installed server for server_name",
    ),
    ("--channels-ready-path", "channels_ready_path", "ready when GET PATH answers 2xx/3xx"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("channels-harness", "channels-harness live servers")
    for option, ini, text in OPTIONS:
        group.addoption(option, dest=ini, default=None, help=text)
        parser.addini(ini, text)
    group.addoption(
        "--channels-url",
        dest="channels_url",
        default=None,
        help="conformance: a running server's echo endpoint, ws://HOST:PORT/PATH",
    )
    group.addoption(
        "--channels-flavours",
        dest="channels_flavours",
        default=os.environ.get("HARNESS_FLAVOURS", ""),
        help=f"comma-separated consumer flavours of the reference app (default: all of "
        f"{', '.join(FLAVOURS)})",
    )
    group.addoption(
        "--tls",
        action="store_true",
        default=False,
        help="run every server over TLS (wss://, https://) with certificates made at start",
    )


def setting(config: pytest.Config, ini: str) -> str | None:
    """The value of option/ini ``ini``: the command line's, else the ini file's, else None."""
    value = config.getoption(ini, default=None)
    if value:
        return str(value)
    from_ini = config.getini(ini)
    return str(from_ini).strip() or None if from_ini else None


def selected_servers(config: pytest.Config, default: tuple[str, ...] | None = None) -> list[str]:
    """The servers chosen with ``--channels-servers`` (or ``HARNESS_SERVERS``), validated;
    else ``default``, else every installed one."""
    names = comma_list(setting(config, "channels_servers") or os.environ.get("HARNESS_SERVERS"))
    if not names:
        installed = [name for name, spec in SERVERS.items() if spec.available()]
        return [n for n in default if n in installed] if default is not None else installed
    for name in names:
        get_spec(name)  # raises with the list of choices
    return names


def selected_flavours(config: pytest.Config, allowed: tuple[str, ...] = FLAVOURS) -> list[str]:
    """The flavours chosen by ``--channels-flavours`` (validated) that are in ``allowed``,
    or all of ``allowed``."""
    names = comma_list(config.getoption("channels_flavours"))
    if not names:
        return list(allowed)
    unknown = set(names) - set(FLAVOURS)
    if unknown:
        raise pytest.UsageError(f"unknown flavour(s) {sorted(unknown)}; choose from {FLAVOURS}")
    return [name for name in names if name in allowed]


def _explicitly_parametrized(metafunc: pytest.Metafunc, name: str) -> bool:
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0]
        if isinstance(names, str):
            names = comma_list(names)
        if name in names:
            return True
    return False


def _servers(metafunc: pytest.Metafunc, default: tuple[str, ...] | None) -> list[str]:
    try:
        return selected_servers(metafunc.config, default)
    except KeyError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    def wanted(name: str) -> bool:
        return name in metafunc.fixturenames and not _explicitly_parametrized(metafunc, name)

    if wanted("channels_server_name"):
        names = _servers(metafunc, FOCUS_SERVERS)
        metafunc.parametrize("channels_server_name", names, ids=names, scope="session")
    remote = metafunc.config.getoption("channels_url", None)
    if wanted("server_name"):
        names = [REMOTE_NAME] if remote else _servers(metafunc, None)
        metafunc.parametrize("server_name", names, scope="session")
    if wanted("flavour"):
        flavours = [REMOTE_NAME] if remote else selected_flavours(metafunc.config)
        metafunc.parametrize("flavour", flavours)
    if wanted("probe_flavour"):
        metafunc.parametrize("probe_flavour", selected_flavours(metafunc.config, PROBE_FLAVOURS))


class ChannelsServers:
    """One running server per name with the configured app, started on first use,
    restarted when dead, all stopped at the end of the session."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.servers: dict[str, ServerProcess] = {}
        self.checked = False

    def options(self) -> dict[str, object]:
        """ServerProcess options for the configured app (none for the reference app)."""
        app = setting(self.config, "channels_app")
        if app is None:
            return {}
        folder = setting(self.config, "channels_app_dir")
        app_dir = Path(self.config.rootpath, folder) if folder else self.config.rootpath
        settings = setting(self.config, "channels_settings")
        if not self.checked:
            check_app(app, app_dir.resolve(), settings)
            self.checked = True
        ready = setting(self.config, "channels_ready_path")
        return {
            "app": app,
            "app_dir": app_dir.resolve(),
            "settings": settings,
            "readiness": Readiness(http_path=ready),
        }

    def get(self, name: str) -> ServerProcess:
        server = self.servers.get(name)
        if server is not None and server.running:
            return server
        if server is not None:
            server.stop()
        server = ServerProcess(get_spec(name), **self.options())  # type: ignore[arg-type]
        self.servers[name] = server
        return server.start()

    def stop_all(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers.clear()


@pytest.fixture(scope="session")
def channels_servers(pytestconfig: pytest.Config) -> Iterator[ChannelsServers]:
    """The session's servers running the configured app; all stopped at the end."""
    servers = ChannelsServers(pytestconfig)
    try:
        yield servers
    finally:
        servers.stop_all()


@pytest.fixture
def channels_server(channels_servers: ChannelsServers, channels_server_name: str) -> ServerProcess:
    """A running server with your app (``--channels-app``), once per chosen server."""
    try:
        return channels_servers.get(channels_server_name)
    except HarnessError as exc:
        pytest.fail(f"{channels_server_name}: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def server_pool(request: pytest.FixtureRequest) -> Iterator[ServerPool]:
    """The session's servers, one per name (over TLS with ``--tls``), all stopped
    when the session ends."""
    pool = ServerPool(tls=bool(request.config.getoption("--tls")))
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture
def server(
    server_pool: ServerPool, server_name: str, pytestconfig: pytest.Config
) -> ServerProcess | RemoteServer:
    """The running reference-app server for this test's ``server_name`` (the running
    server of ``--channels-url``, checked to accept connections, when given)."""
    url = pytestconfig.getoption("channels_url", None)
    if url:
        try:
            return RemoteServer(url).start()
        except HarnessError as exc:
            pytest.fail(str(exc), pytrace=False)
    return server_pool.get(server_name)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With ``--channels-url``: skip, as N/A, every case that needs the reference app's
    probe consumer (there is none behind a running server's echo endpoint)."""
    if not config.getoption("channels_url", None):
        return
    skip = pytest.mark.skip(reason="N/A: needs the reference app's probe consumer (--url)")
    for item in items:
        if _needs_probe(item):
            item.add_marker(skip)


def _needs_probe(item: pytest.Item) -> bool:
    """Whether a case talks to the probe consumer: it takes ``probe_flavour`` or
    ``features``, grades by spec version or extension, or (within two calls) uses the
    probe client's helpers."""
    if {"probe_flavour", "features"} & set(getattr(item, "fixturenames", ())):
        return True
    marker = item.get_closest_marker("conformance_case")
    if marker is not None and (marker.kwargs.get("min_spec") or marker.kwargs.get("extension")):
        return True
    function = getattr(item, "function", None)
    return function is not None and _mentions_probe(function, 2)


def _mentions_probe(function: Any, depth: int) -> bool:
    code = getattr(function, "__code__", None)
    if code is None:
        return False
    if any("probe" in name or name in ("received", "record") for name in code.co_names):
        return True
    if depth == 0:
        return False
    module = function.__globals__
    return any(
        inspect.isfunction(module.get(name))
        and module[name].__module__ == function.__module__
        and _mentions_probe(module[name], depth - 1)
        for name in code.co_names
    )


def require_or_skip(what: str, reason: str) -> None:
    """Skip for a missing outside dependency, or fail when ``HARNESS_REQUIRE_ALL=1``
    (CI sets it, so nothing it should test is silently skipped)."""
    if os.environ.get("HARNESS_REQUIRE_ALL") == "1":
        pytest.fail(f"{what} is required here (HARNESS_REQUIRE_ALL=1): {reason}")
    pytest.skip(f"{what}: {reason}")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis server for the Redis channel layers: ``HARNESS_REDIS_URL`` if set,
    else a local redis-server started for the session."""
    from channels_harness.errors import RedisUnavailableError
    from channels_harness.servers.redis import redis_for

    try:
        with redis_for("redis", os.environ.get("HARNESS_REDIS_URL") or None) as url:
            assert url is not None
            yield url
    except RedisUnavailableError as exc:
        require_or_skip("Redis", str(exc))
