"""The harness's pytest plugin: live servers running your app, in your own test suite.

Installing channels-harness is enough: pytest loads this module through the
``pytest11`` entry point. It lives in every test session of every project
that installs the package, so every option and ini key is prefixed and its
fixtures' names cannot collide with yours:

- ``--channels-app MODULE:ATTR`` (ini ``channels_app``): your ASGI app (default:
  the harness's reference app);
- ``--channels-app-dir DIR`` (ini ``channels_app_dir``): where it is imported
  from and the server's working directory (default: pytest's rootdir);
- ``--channels-settings MODULE`` (ini ``channels_settings``): its
  ``DJANGO_SETTINGS_MODULE``;
- ``--channels-servers daphne,uvicorn`` (ini ``channels_servers``): the servers;
- ``--channels-ready-path PATH`` (ini ``channels_ready_path``): ready when
  ``GET PATH`` answers (default: any HTTP answer on ``/``).

Fixture ``channels_server``: a running server (a
:class:`~channels_harness.servers.process.ServerProcess`) with your app,
parametrized over the chosen servers (test ids are the server names, default
daphne and uvicorn), one process per server per session, restarted if a test
left it dead; it has ``.name``, ``.version``, ``.ws_url(path)`` and
``.http_url(path)``. Your app runs in a clean environment, not pytest's.

The harness's own suites (its tests and the conformance suites) need more:
``server``, ``server_name``, ``flavour`` and friends. Those come from
:mod:`channels_harness.testing.suites`, which only those suites load, so a
fixture of yours named ``flavour`` or ``server_name`` stays yours.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from channels_harness.errors import HarnessError
from channels_harness.runtime.options import comma_list
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.registry import FOCUS_SERVERS, SERVERS, get_spec
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


def explicitly_parametrized(metafunc: pytest.Metafunc, name: str) -> bool:
    """Whether the test parametrizes ``name`` itself (then it is left alone)."""
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0]
        if isinstance(names, str):
            names = comma_list(names)
        if name in names:
            return True
    return False


def servers_for(metafunc: pytest.Metafunc, default: tuple[str, ...] | None) -> list[str]:
    """:func:`selected_servers` for a test being collected (pytest's UsageError if unknown)."""
    try:
        return selected_servers(metafunc.config, default)
    except KeyError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``channels_server`` runs once per chosen server (``channels_server_name``)."""
    if "channels_server_name" in metafunc.fixturenames and not explicitly_parametrized(
        metafunc, "channels_server_name"
    ):
        names = servers_for(metafunc, FOCUS_SERVERS)
        metafunc.parametrize("channels_server_name", names, ids=names, scope="session")


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
