"""pytest fixtures for suites that run against live servers.

Tests that take ``server_name`` (or ``server``) run once per server chosen with
``--servers`` (default: every installed server in the registry); tests that
take ``flavour`` run once per consumer flavour, and ``probe_flavour`` once per
probe flavour. Ids read like ``[uvicorn-wsproto-async]``.

``server`` is a running :class:`~channels_harness.servers.process.ServerProcess`,
started once per server and session and restarted when a test left it dead, so
one crash costs one case, not the rest of the suite. Every server is stopped at
the end of the session, pass or fail. With ``--tls`` every server serves wss://.

``redis_url`` is a Redis server for the Redis channel layers (``HARNESS_REDIS_URL``,
or a local redis-server for the session); :func:`require_or_skip` skips a test
whose outside dependency is missing, or fails it under ``HARNESS_REQUIRE_ALL=1``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from channels_harness.runtime.options import comma_list
from channels_harness.servers.pool import ServerPool
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.reference import FLAVOURS, PROBE_FLAVOURS
from channels_harness.servers.registry import SERVERS, get_spec


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("channels-harness")
    group.addoption(
        "--servers",
        default=os.environ.get("HARNESS_SERVERS", ""),
        help="comma-separated servers to test (default: every installed one; "
        f"known: {', '.join(SERVERS)})",
    )
    group.addoption(
        "--flavours",
        default=os.environ.get("HARNESS_FLAVOURS", ""),
        help=f"comma-separated consumer flavours (default: all of {', '.join(FLAVOURS)})",
    )
    group.addoption(
        "--tls",
        action="store_true",
        default=False,
        help="run every server over TLS (wss://, https://) with certificates made at start",
    )


def selected_servers(config: pytest.Config) -> list[str]:
    """The server names chosen by ``--servers`` (validated), or every installed one."""
    names = comma_list(config.getoption("--servers"))
    if not names:
        return [name for name, spec in SERVERS.items() if spec.available()]
    for name in names:
        get_spec(name)  # raises with the list of choices
    return names


def selected_flavours(config: pytest.Config, allowed: tuple[str, ...] = FLAVOURS) -> list[str]:
    """The flavours chosen by ``--flavours`` (validated) that are in ``allowed``, or all
    of ``allowed``."""
    names = comma_list(config.getoption("--flavours"))
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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "server_name" in metafunc.fixturenames and not _explicitly_parametrized(
        metafunc, "server_name"
    ):
        try:
            names = selected_servers(metafunc.config)
        except KeyError as exc:
            raise pytest.UsageError(str(exc)) from None
        metafunc.parametrize("server_name", names, scope="session")
    if "flavour" in metafunc.fixturenames and not _explicitly_parametrized(metafunc, "flavour"):
        metafunc.parametrize("flavour", selected_flavours(metafunc.config))
    if "probe_flavour" in metafunc.fixturenames and not _explicitly_parametrized(
        metafunc, "probe_flavour"
    ):
        metafunc.parametrize("probe_flavour", selected_flavours(metafunc.config, PROBE_FLAVOURS))


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
def server(server_pool: ServerPool, server_name: str) -> ServerProcess:
    """The running server for this test's ``server_name``."""
    return server_pool.get(server_name)


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
