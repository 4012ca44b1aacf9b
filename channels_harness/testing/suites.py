"""The harness's own suites' fixtures: loaded by its tests, bench and conformance
suites, never by a project that merely installs the package.

The repository's root ``conftest.py`` loads this module (``pytest_plugins``),
and ``channels-harness conformance`` passes ``-p channels_harness.testing.suites``
to the pytest it runs on the suites (from a checkout or from the wheel), so the
names below exist only there. A project's own fixtures called ``flavour``,
``server`` or ``server_name`` are never parametrized or shadowed by the harness.

- ``server_name`` runs once per server of ``--channels-servers`` (default: every
  installed server), ``flavour`` once per consumer flavour of
  ``--channels-flavours``, ``probe_flavour`` once per probe flavour; ``server``
  is the reference app under that server (over TLS with ``--channels-tls``).
- With ``--channels-url ws://.../PATH`` (what ``channels-harness conformance
  --url`` passes) ``server`` is that running server instead, loaded only
  through its echo endpoint at PATH: ``server_name`` and ``flavour`` are
  ``url``, and the cases that need the reference app's probe consumer (or the
  features it reads) are skipped as N/A.
- ``redis_url`` is a Redis server for the Redis channel layers
  (``HARNESS_REDIS_URL``, or a local redis-server for the session);
  :func:`require_or_skip` skips a test whose outside dependency is missing, or
  fails it under ``HARNESS_REQUIRE_ALL=1``.

Every server is stopped at the end of the session, pass or fail.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from typing import Any

import pytest

from channels_harness.errors import HarnessError
from channels_harness.runtime.options import comma_list
from channels_harness.servers.pool import ServerPool
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.reference import FLAVOURS, PROBE_FLAVOURS
from channels_harness.servers.remote import REMOTE_NAME, RemoteServer
from channels_harness.testing.plugin import explicitly_parametrized, servers_for


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("channels-harness", "channels-harness live servers")
    group.addoption(
        "--channels-url",
        dest="channels_url",
        default=None,
        help="conformance: a running server's echo endpoint, ws://HOST:PORT/PATH",
    )
    group.addoption(
        "--channels-flavours",
        dest="channels_flavours",
        default=None,
        help=f"comma-separated consumer flavours of the reference app (default: all of "
        f"{', '.join(FLAVOURS)})",
    )
    group.addoption(
        "--channels-tls",
        dest="channels_tls",
        action="store_true",
        default=False,
        help="run every server over TLS (wss://, https://) with certificates made at start",
    )


def selected_flavours(config: pytest.Config, allowed: tuple[str, ...] = FLAVOURS) -> list[str]:
    """The flavours chosen by ``--channels-flavours`` (or ``HARNESS_FLAVOURS``), validated,
    that are in ``allowed``; or all of ``allowed``."""
    names = comma_list(config.getoption("channels_flavours") or os.environ.get("HARNESS_FLAVOURS"))
    if not names:
        return list(allowed)
    unknown = set(names) - set(FLAVOURS)
    if unknown:
        raise pytest.UsageError(f"unknown flavour(s) {sorted(unknown)}; choose from {FLAVOURS}")
    return [name for name in names if name in allowed]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``server_name``, ``flavour`` and ``probe_flavour``: once per chosen server and
    flavour (``url`` for ``--channels-url``), unless the test parametrizes them itself."""

    def wanted(name: str) -> bool:
        return name in metafunc.fixturenames and not explicitly_parametrized(metafunc, name)

    remote = metafunc.config.getoption("channels_url", None)
    if wanted("server_name"):
        names = [REMOTE_NAME] if remote else servers_for(metafunc, None)
        metafunc.parametrize("server_name", names, scope="session")
    if wanted("flavour"):
        flavours = [REMOTE_NAME] if remote else selected_flavours(metafunc.config)
        metafunc.parametrize("flavour", flavours)
    if wanted("probe_flavour"):
        metafunc.parametrize("probe_flavour", selected_flavours(metafunc.config, PROBE_FLAVOURS))


@pytest.fixture(scope="session")
def server_pool(request: pytest.FixtureRequest) -> Iterator[ServerPool]:
    """The session's servers, one per name (over TLS with ``--channels-tls``), all stopped
    when the session ends."""
    pool = ServerPool(tls=bool(request.config.getoption("channels_tls")))
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
