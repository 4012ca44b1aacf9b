"""pytest hooks that run conformance cases, grade them and collect the matrix.

Loaded by ``conformance/conftest.py``. A case takes the ``verdict`` fixture
and records checks on it; after the test body this plugin runs the canary for
bad-input cases, grades the verdict, turns the grade into the test outcome
(PASS and INFO pass, N/A skips, NON-STRICT and FAIL raise
:class:`~.verdict.SpecDeviation`) and attaches the matrix row to the report.
Known deviations are strict xfails unless ``--strict-spec`` is given; a case
that deviates with another grade or another observation than its entry
records fails. The controller process (also under pytest-xdist) gathers the
rows and writes the matrix at the end of the session.

``--conformance-deviations FILE`` reads the known deviations from FILE instead
of conformance/deviations.toml; ``--conformance-server-name NAME`` names the
running server of ``--channels-url`` (otherwise ``url``) so that the entries
recorded for NAME apply to it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from channels_harness.experiments.conformance import keepalive, matrix
from channels_harness.experiments.conformance.cases import (
    MARKER,
    CaseInfo,
    case_info,
    cell,
    version_tuple,
)
from channels_harness.experiments.conformance.deviations import DEFAULT_PATH, Deviations
from channels_harness.experiments.conformance.features import (
    Features,
    server_features,
    wire_extensions,
)
from channels_harness.experiments.conformance.grades import Grade
from channels_harness.experiments.conformance.live import canary
from channels_harness.experiments.conformance.verdict import SpecDeviation, Verdict
from channels_harness.runtime.paths import RESULTS_DIR
from channels_harness.servers.pool import ServerPool
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.remote import REMOTE_NAME

ROW_PROPERTY = "conformance_row"
DEFAULT_OUT = RESULTS_DIR / "conformance"
# Where the matrix goes when --conformance-out is not given, instead of DEFAULT_OUT:
# ./harness test sets it, so the test suites never overwrite the published matrix.
OUT_VARIABLE = "HARNESS_CONFORMANCE_OUT"

_verdict_key = pytest.StashKey["_CaseRun"]()
_written_key = pytest.StashKey[list[Path]]()
_deviations_key = pytest.StashKey[Deviations]()
_keepalive_dir_key = pytest.StashKey[Path]()
# Reports reach pytest_runtest_logreport without the config; one session per process.
_session_rows: dict[str, dict[str, Any]] = {}


class _CaseRun:
    """What the hooks need about one running case."""

    def __init__(self, verdict: Verdict, pool: ServerPool, server: ServerProcess) -> None:
        self.verdict = verdict
        self.pool = pool
        self.server = server


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance")
    group.addoption(
        "--strict-spec",
        action="store_true",
        default=False,
        help="treat every known deviation as a failure (ignore conformance/deviations.toml)",
    )
    group.addoption(
        "--conformance-out",
        default=os.environ.get(OUT_VARIABLE) or str(DEFAULT_OUT),
        help=f"folder for matrix.json and matrix.md (default: ${OUT_VARIABLE} when set, "
        "else results/conformance)",
    )
    group.addoption(
        "--conformance-deviations",
        metavar="FILE",
        default=None,
        help="the known deviations file (default: conformance/deviations.toml)",
    )
    group.addoption(
        "--conformance-server-name",
        metavar="NAME",
        default=None,
        help="with --channels-url: the running server's name, whose known deviations "
        "apply to it (default: url)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(clause, min_spec=None, extension=None, wire_extension=None, "
        "bad_input=False, late=False): a graded conformance case citing its spec clause",
    )
    path = config.getoption("--conformance-deviations")
    if path is not None and not Path(path).is_file():
        raise pytest.UsageError(f"--conformance-deviations {path}: no such file")
    config.stash[_deviations_key] = Deviations.load(Path(path) if path else DEFAULT_PATH)
    _session_rows.clear()
    if not hasattr(config, "workerinput") or not os.environ.get(keepalive.DIR_VARIABLE):
        # The controller (or a lone process) makes the folder; xdist workers inherit it.
        folder = tempfile.mkdtemp(prefix="channels-harness-keepalive-")
        os.environ[keepalive.DIR_VARIABLE] = folder
        config.stash[_keepalive_dir_key] = Path(folder)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put ``late`` cases last, and make every recorded deviation a strict xfail
    (unless ``--strict-spec``)."""
    items.sort(key=lambda item: bool((info := case_info(item)) and info.late))
    if config.getoption("--strict-spec"):
        return
    deviations = config.stash[_deviations_key]
    for item in items:
        info = case_info(item)
        if info is None:
            continue
        server, flavour = _cell(item)
        known = deviations.find(info.name, server, flavour)
        if known is not None:
            item.add_marker(
                pytest.mark.xfail(
                    reason=f"known deviation ({known.grade}, {known.clause}): {known.observed}",
                    strict=not known.flaky,
                    raises=SpecDeviation,
                )
            )


def _cell(item: pytest.Item) -> tuple[str, str]:
    """``(server, flavour)`` of a case, the running server of ``--channels-url`` named
    by ``--conformance-server-name`` when given."""
    server, flavour = cell(item)
    named = item.config.getoption("--conformance-server-name")
    return (named if named and server == REMOTE_NAME else server), flavour


@pytest.fixture(scope="session", autouse=True)
def keepalive_watches(request: pytest.FixtureRequest) -> None:
    """Start the keepalive watch of every server a ``late`` case of this session reads,
    at the start, so that the watches have seen enough by the time those cases run."""
    names = {
        cell(item)[0]
        for item in request.session.items
        if (info := case_info(item)) is not None and info.late
    }
    for name in sorted(names - {"-", REMOTE_NAME}):
        keepalive.claim(name, keepalive.watch_dir())


@pytest.fixture
def verdict(
    request: pytest.FixtureRequest, server: ServerProcess, server_pool: ServerPool
) -> Verdict:
    """The verdict this case records its checks on (N/A already set if it applies)."""
    result = Verdict()
    info = case_info(request.node)
    if info is not None:
        result.not_applicable = _spec_too_old(info, server)
        missing = _missing_extension(info, server)
        if missing is not None:
            # Without the extension the case cannot even start: graded N/A, not run.
            result.not_applicable = missing
            _record(request.node, result)
            pytest.skip(f"N/A: {missing}")
    request.node.stash[_verdict_key] = _CaseRun(result, server_pool, server)
    return result


@pytest.fixture
def features(server: ServerProcess) -> Features:
    """What the running server advertises in the scope (spec version, extensions)."""
    return server_features(server)


def _spec_too_old(info: CaseInfo, server: ServerProcess) -> str | None:
    """Why the case is N/A because of the ASGI spec version, or None."""
    if info.min_spec is None:
        return None
    advertised = server_features(server)
    if version_tuple(advertised.spec_version) >= version_tuple(info.min_spec):
        return None
    return (
        f"needs ASGI spec {info.min_spec}; server advertises {advertised.spec_version}"
        f"{'' if advertised.spec_version_given else ' (no spec_version: 2.0 assumed)'}"
    )


def _missing_extension(info: CaseInfo, server: ServerProcess) -> str | None:
    """Why the case cannot run for want of an extension, or None."""
    if info.extension is not None and info.extension not in server_features(server).extensions:
        return f"needs the {info.extension} extension; server does not advertise it"
    if info.wire_extension is not None and info.wire_extension not in wire_extensions(server):
        return f"needs {info.wire_extension}; server does not agree to it when offered"
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    run = item.stash.get(_verdict_key, None)
    info = case_info(item)
    if run is None or info is None:
        return (yield)
    __tracebackhide__ = True
    verdict = run.verdict
    try:
        yield
    except (pytest.skip.Exception, pytest.fail.Exception, KeyboardInterrupt):
        raise
    except Exception as exc:
        verdict.must(
            False,
            expected="the case runs to its end",
            observed=f"case error {type(exc).__name__}: {exc}",
        )
        _record(item, verdict)
        if verdict.not_applicable is not None:
            pytest.skip(f"N/A: {verdict.not_applicable}")
        raise
    if info.bad_input and verdict.not_applicable is None:
        _run_canary(run, cell(item)[0])
    _record(item, verdict)
    grade = verdict.grade
    if grade is Grade.NOT_APPLICABLE:
        pytest.skip(f"N/A: {verdict.not_applicable}")
    if not grade.is_deviation:
        return None
    server, flavour = _cell(item)
    known = item.config.stash[_deviations_key].find(info.name, server, flavour)
    if known is not None and not item.config.getoption("--strict-spec"):
        changed = known.mismatch(grade, verdict.observation)
        if changed is not None:
            # Not a SpecDeviation: the strict xfail does not take it, the case fails.
            raise AssertionError(
                f"deviates otherwise than deviations.toml records:\n{changed}\n{verdict.message()}"
            )
    raise SpecDeviation(verdict.message())


def _run_canary(run: _CaseRun, name: str) -> None:
    problem = canary(run.server)
    run.verdict.must(
        problem is None,
        expected="a fresh connection still echoes afterwards",
        observed="a fresh connection echoed" if problem is None else f"canary failed: {problem}",
    )
    if problem is not None:
        run.pool.restart(name)


def _record(item: pytest.Item, verdict: Verdict) -> None:
    info = case_info(item)
    assert info is not None
    server, flavour = _cell(item)
    grade = verdict.grade
    known = item.config.stash[_deviations_key].find(info.name, server, flavour)
    observed = verdict.observed
    would_be = verdict.would_be
    if grade is Grade.NOT_APPLICABLE:
        observed = str(verdict.not_applicable)
        if would_be is not None:
            observed += f"; ran anyway: {verdict.observed}"
    row = {
        "case": info.name,
        "clause": info.clause,
        "title": info.title,
        "area": info.area,
        "server": server,
        "flavour": flavour,
        "grade": str(grade),
        "expected": verdict.expected,
        "observed": observed,
        "known_deviation": known is not None and known.mismatch(grade, verdict.observation) is None,
        "would_be": str(would_be) if would_be is not None else "",
        "features": dict(verdict.features),
        "observation": verdict.observation if grade.is_deviation else verdict.observations,
    }
    item.user_properties[:] = [p for p in item.user_properties if p[0] != ROW_PROPERTY]
    item.user_properties.append((ROW_PROPERTY, row))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Gather rows where the reports arrive (the controller under xdist)."""
    for name, value in report.user_properties:
        if name == ROW_PROPERTY and isinstance(value, dict):
            _session_rows[report.nodeid] = value


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the matrix once, from the controller (not from xdist workers)."""
    keepalive.stop_all()
    config = session.config
    folder = config.stash.get(_keepalive_dir_key, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
    if hasattr(config, "workerinput") or not _session_rows:
        return
    out = Path(config.getoption("--conformance-out"))
    rows = sorted(_session_rows.values(), key=matrix.row_order)
    written = matrix.write(
        rows,
        out,
        strict=bool(config.getoption("--strict-spec")),
        deviations=config.stash[_deviations_key],
        remote=config.getoption("--conformance-server-name")
        if config.getoption("channels_url", None)
        else None,
    )
    config.stash[_written_key] = written


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    written = config.stash.get(_written_key, [])
    if written:
        paths = ", ".join(str(p) for p in written)
        terminalreporter.write_line(f"conformance matrix ({len(_session_rows)} rows): {paths}")
