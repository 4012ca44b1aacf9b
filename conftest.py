"""The repository's suites (tests/, conformance/, bench/) use the harness's pytest
plugin, :mod:`channels_harness.testing.plugin`, which pytest loads through its
``pytest11`` entry point like in any project that installs the package.

Its options are prefixed (``--channels-servers``, ``--channels-flavours``); in
this repository the short forms ``--servers`` and ``--flavours`` keep working
as aliases of the same settings.
"""

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("channels-harness")
    group.addoption("--servers", dest="channels_servers", help="same as --channels-servers")
    group.addoption("--flavours", dest="channels_flavours", help="same as --channels-flavours")
