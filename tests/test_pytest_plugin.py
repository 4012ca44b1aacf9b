"""The pytest plugin lives in the test session of every project that installs the
harness: it adds only prefixed options, ini keys and fixtures, and never touches a
project's own fixtures, even one named ``flavour`` or ``server_name``.

Each test runs pytest in a subprocess on a separate project made in a temporary
folder (outside this repository, so its conftest.py is not seen), once with the
plugin and once with ``-p no:channels_harness``: what differs is the plugin's.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import _spawn

from channels_harness.runtime.timeouts import scaled

CONFTEST = """
import pytest


@pytest.fixture
def flavour():
    return "vanilla"


@pytest.fixture
def server_name():
    return "my-server"
"""

TESTS = """
def test_my_flavour(flavour):
    assert flavour == "vanilla"


def test_my_server_name(server_name, flavour):
    assert (server_name, flavour) == ("my-server", "vanilla")
"""

UNDEFINED = """
def test_asks_for_the_harness_suites_fixture(server):
    pass
"""


def pytest_in(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _spawn.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=project,
        timeout=scaled(120),
    )


def project(tmp_path: Path, **files: str) -> Path:
    folder = tmp_path / "myproject"
    folder.mkdir()
    (folder / "pytest.ini").write_text("[pytest]\n")
    for name, text in files.items():
        (folder / f"{name}.py").write_text(text)
    return folder


def test_a_projects_own_flavour_and_server_name_fixtures_are_left_alone(tmp_path: Path) -> None:
    folder = project(tmp_path, conftest=CONFTEST, test_mine=TESTS)
    done = pytest_in(folder, "-v")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_mine.py::test_my_flavour PASSED" in done.stdout
    assert "test_mine.py::test_my_server_name PASSED" in done.stdout
    assert "2 passed" in done.stdout


def test_the_harness_suites_fixtures_do_not_exist_in_a_project(tmp_path: Path) -> None:
    folder = project(tmp_path, test_other=UNDEFINED)
    done = pytest_in(folder)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "fixture 'server' not found" in done.stdout


def _options(text: str) -> set[str]:
    return set(re.findall(r"^  (--[\w-]+)", text, re.MULTILINE))


def _ini_keys(text: str) -> set[str]:
    ini = text[text.index("[pytest] configuration options") :]
    return set(re.findall(r"^  ([\w-]+) \(\w+\):", ini, re.MULTILINE))


def _fixtures(text: str) -> set[str]:
    return set(re.findall(r"^(\w+)(?: \[[\w ]+ scope\])? -- ", text, re.MULTILINE))


def test_every_option_ini_key_and_fixture_the_plugin_adds_is_prefixed(tmp_path: Path) -> None:
    folder = project(tmp_path)
    with_plugin = pytest_in(folder, "--help").stdout
    without = pytest_in(folder, "--help", "-p", "no:channels_harness").stdout
    options = _options(with_plugin) - _options(without)
    assert "--channels-app" in options
    assert all(option.startswith("--channels-") for option in options), sorted(options)
    keys = _ini_keys(with_plugin) - _ini_keys(without)
    assert "channels_app" in keys
    assert all(key.startswith("channels_") for key in keys), sorted(keys)
    fixtures = _fixtures(pytest_in(folder, "--fixtures").stdout)
    added = fixtures - _fixtures(
        pytest_in(folder, "--fixtures", "-p", "no:channels_harness").stdout
    )
    assert "channels_server" in added
    assert all(name.startswith("channels_") for name in added), sorted(added)
