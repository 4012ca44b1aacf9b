"""Run the conformance suites in a subprocess and put their rows into a results run.

``channels-harness conformance`` and ``channels-harness all`` call
:func:`run_suite`: it runs ``python -m pytest conformance/`` (bounded in time,
in its own process group, reaped on every exit path), keeps pytest's output
and the matrix in the run folder, and adds every row to the run's
``conformance`` section.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from channels_harness.report.model import Run
from channels_harness.report.rows import ConformanceFeatureRow, ConformanceRow
from channels_harness.runtime.paths import CONFORMANCE_DIR, PROJECT_DIR
from channels_harness.runtime.procgroup import spawn, stop_group
from channels_harness.runtime.timeouts import scaled

# The fixtures only the harness's own suites have (server, server_name, flavour...).
SUITE_FIXTURES = "channels_harness.testing.suites"
# The whole suite takes 1-2 minutes on 2 cores; this bound only stops a hang.
SUITE_TIMEOUT_S = 900.0
TIMEOUT_EXIT = 124


def pytest_command(
    out: Path,
    *,
    servers: Sequence[str] | None,
    flavours: Sequence[str] | None,
    strict: bool,
    workers: int,
    url: str | None = None,
    server_name: str | None = None,
    deviations: Path | None = None,
) -> list[str]:
    """The pytest command line for the suite writing its matrix into ``out`` (against
    the running server's echo endpoint at ``url`` when given, named ``server_name``;
    with the known deviations of ``deviations`` instead of the bundled file)."""
    command = [sys.executable, "-m", "pytest", str(CONFORMANCE_DIR), "-q", "-p", "no:cacheprovider"]
    command += ["-p", SUITE_FIXTURES]
    if url:
        command += ["--channels-url", url]
        if server_name:
            command += ["--conformance-server-name", server_name]
    if deviations is not None:
        command += ["--conformance-deviations", str(deviations)]
    command += ["--conformance-out", str(out)]
    if workers > 1:
        command += ["-n", str(workers)]
    if servers:
        command += ["--channels-servers", ",".join(servers)]
    if flavours:
        command += ["--channels-flavours", ",".join(flavours)]
    if strict:
        command.append("--strict-spec")
    return command


def run_suite(
    run: Run,
    *,
    servers: Sequence[str] | None = None,
    flavours: Sequence[str] | None = None,
    strict: bool = False,
    workers: int = 2,
    timeout: float = SUITE_TIMEOUT_S,
    url: str | None = None,
    server_name: str | None = None,
    deviations: Path | None = None,
) -> int:
    """Run the suite into ``run`` and return pytest's exit code (124 on timeout).

    The matrix and ``pytest.log`` land in ``run.path / "conformance"``; the
    graded rows and the feature table go into the run as typed rows.
    """
    out = run.path / "conformance"
    out.mkdir(parents=True, exist_ok=True)
    command = pytest_command(
        out,
        servers=servers,
        flavours=flavours,
        strict=strict,
        workers=workers,
        url=url,
        server_name=server_name,
        deviations=deviations,
    )
    log_path = out / "pytest.log"
    with open(log_path, "wb") as log:
        popen = spawn(command, cwd=PROJECT_DIR, stdout=log, stderr=subprocess.STDOUT)
        try:
            code: int = popen.wait(timeout=scaled(timeout))
        except subprocess.TimeoutExpired:
            code = TIMEOUT_EXIT
        finally:
            stop_group(popen)
    if code == TIMEOUT_EXIT:
        run.fail(
            "conformance",
            {"command": command},
            f"pytest conformance/ did not finish within {scaled(timeout):.0f}s",
            _tail(log_path),
        )
    matrix_file = out / "matrix.json"
    if matrix_file.exists():
        add_matrix(run, matrix_file)
        run.note(f"conformance: pytest exited {code}; matrix in {out.relative_to(run.path)}/")
    elif code != TIMEOUT_EXIT:
        run.fail(
            "conformance",
            {"command": command},
            f"pytest conformance/ exited {code} without writing a matrix",
            _tail(log_path),
        )
    return code


def add_matrix(run: Run, matrix_file: Path) -> None:
    """Add a matrix.json's graded rows and feature table to ``run`` as typed rows,
    and record the servers it names."""
    document: dict[str, Any] = json.loads(matrix_file.read_text(encoding="utf-8"))
    run.extend([ConformanceRow.from_json(row) for row in document["rows"]])
    run.extend([ConformanceFeatureRow.from_json(f) for f in document.get("features", [])])
    for name, info in document.get("servers", {}).items():
        if name not in run.data["servers"]:
            run.record_server(info)


def _tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])
