"""The repository's suites (tests/, conformance/, bench/) use the harness's pytest
plugin, :mod:`channels_harness.testing.plugin`, which pytest loads through its
``pytest11`` entry point like in any project that installs the package, and the
fixtures only the harness's own suites have (``server``, ``server_name``,
``flavour``...), :mod:`channels_harness.testing.suites`, loaded here.

Their options are prefixed (``--channels-servers``, ``--channels-flavours``,
``--channels-tls``); in this repository the short forms ``--servers``,
``--flavours`` and ``--tls`` keep working as aliases of the same settings.
"""

import pytest

pytest_plugins = ["channels_harness.testing.suites"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("channels-harness")
    group.addoption("--servers", dest="channels_servers", help="same as --channels-servers")
    group.addoption("--flavours", dest="channels_flavours", help="same as --channels-flavours")
    group.addoption(
        "--tls", dest="channels_tls", action="store_true", help="same as --channels-tls"
    )
