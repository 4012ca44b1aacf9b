"""The repository's suites (tests/, conformance/, bench/) use the harness's pytest
plugin, :mod:`channels_harness.testing.plugin`, which pytest loads through its
``pytest11`` entry point like in any project that installs the package, and the
fixtures only the harness's own suites have (``server``, ``server_name``,
``flavour``...), :mod:`channels_harness.testing.suites`, loaded here.

Their options are prefixed (``--channels-servers``, ``--channels-flavours``,
``--channels-tls``); in this repository the short forms ``--servers``,
``--flavours`` and ``--tls`` keep working as aliases of the same settings.
"""

import signal
from typing import Any

import pytest

pytest_plugins = ["channels_harness.testing.suites"]

# A suite started in the background by a non-interactive shell (`cmd &` in a script, a
# CI runner's job) inherits SIGINT ignored, and so would every command the tests start:
# an ignored signal stays ignored across exec, and Python then installs no
# KeyboardInterrupt handler, so the Ctrl-C tests would meet a harness that cannot be
# interrupted (seen: 11 such failures in a backgrounded .ci/run). Python's own handler
# here (in the main process and in each xdist worker) makes the commands the tests start
# begin with the default disposition, as under a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("channels-harness")
    group.addoption("--servers", dest="channels_servers", help="same as --channels-servers")
    group.addoption("--flavours", dest="channels_flavours", help="same as --channels-flavours")
    group.addoption(
        "--tls", dest="channels_tls", action="store_true", help="same as --channels-tls"
    )


# -- how `pytest -n 2` shares the suites between its workers ------------------------
#
# pytest-xdist's default (``--dist load``) hands out single tests, so a module's
# costly module-scoped fixture (a real quick run, a built wheel, a migrated example
# project) is made again on every worker that gets one of its tests; and
# ``--dist loadgroup`` no longer groups anything on pytest 9.2 (pytest-xdist issue
# 1386). So with ``--dist load`` the scheduler below keeps each module of tests/
# on one worker, hands out the conformance cases one by one, and the collection
# order puts the longest modules first (measured on the 2-core machine, README
# "Tests"), then the conformance cases, then the other modules of tests/, the
# ``late`` conformance cases (the keepalive findings) last.

# The longest modules of tests/, longest first: only an order hint (a module not
# named here just runs after the conformance cases).
LONGEST_FIRST = (
    "tests/test_versions.py",
    "tests/test_report_run.py",
    "tests/test_connection_limits.py",
    "tests/test_own_stack_wheel.py",
    "tests/test_scenario_bench.py",
    "tests/test_locust.py",
    "tests/test_faults.py",
    "tests/test_attacks.py",
    "tests/test_own_app.py",
    "tests/test_benchrun.py",
    "tests/test_conformance_harness.py",
    "tests/test_security.py",
    "tests/test_locust_api.py",
    "tests/test_locust_workers.py",
)


def _rank(item: pytest.Item) -> int:
    path = item.nodeid.split("::", 1)[0]
    if path in LONGEST_FIRST:
        return LONGEST_FIRST.index(path)
    if path.startswith("conformance/"):
        case = item.get_closest_marker("conformance_case")
        late = case is not None and case.kwargs.get("late", False)
        return len(LONGEST_FIRST) + (2 if late else 0)
    return len(LONGEST_FIRST) + 1


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker, the order above (a stable sort: within a module, the order
    stays the module's; every worker sorts alike, as xdist requires)."""
    if hasattr(config, "workerinput"):
        items.sort(key=_rank)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With ``--dist load`` (what ``-n`` gives): whole modules of tests/, single
    conformance cases, in collection order (see above)."""
    if config.getoption("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModulesOfTests(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path.startswith("tests/") else nodeid

    config.option.loadscopereorder = False  # keep the collection's order
    return ModulesOfTests(config, log)
