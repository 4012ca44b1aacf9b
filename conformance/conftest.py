"""Conformance suites: graded cases against every server and consumer flavour.

The hooks and fixtures live in :mod:`channels_harness.experiments.conformance.plugin`;
this file only loads them for the suites in this folder.
"""

from channels_harness.experiments.conformance.plugin import (
    features,
    keepalive_watches,
    pytest_addoption,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_runtest_call,
    pytest_runtest_logreport,
    pytest_sessionfinish,
    pytest_terminal_summary,
    verdict,
)

__all__ = [
    "features",
    "keepalive_watches",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_runtest_call",
    "pytest_runtest_logreport",
    "pytest_sessionfinish",
    "pytest_terminal_summary",
    "verdict",
]
