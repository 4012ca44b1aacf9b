"""The conformance machinery: grading, the deviations file, the pytest plugin and the runner.

The plugin and runner tests run the real suite in a subprocess against real
servers, on a few cases, and read the matrix it writes.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from channels_harness.experiments.conformance.deviations import DeviationFileError, Deviations
from channels_harness.experiments.conformance.grades import Grade
from channels_harness.experiments.conformance.runner import TIMEOUT_EXIT, run_suite
from channels_harness.experiments.conformance.verdict import Verdict
from channels_harness.report.model import Run
from channels_harness.runtime.paths import CONFORMANCE_DIR, PROJECT_DIR
from channels_harness.servers.registry import SERVERS


class TestVerdict:
    def test_no_checks_is_pass(self) -> None:
        assert Verdict().grade is Grade.PASS

    def test_missed_should_is_non_strict(self) -> None:
        verdict = Verdict()
        verdict.must(True, expected="a", observed="a")
        verdict.should(False, expected="b", observed="c")
        assert verdict.grade is Grade.NON_STRICT
        assert verdict.observed == "c"

    def test_missed_must_outranks_should(self) -> None:
        verdict = Verdict()
        verdict.should(False, expected="b", observed="c")
        verdict.must(False, expected="d", observed="e")
        assert verdict.grade is Grade.FAIL

    def test_recorded_value_is_info(self) -> None:
        verdict = Verdict()
        verdict.info("limit 1 MiB")
        assert (verdict.grade, verdict.observed) == (Grade.INFO, "limit 1 MiB")

    def test_not_applicable_wins(self) -> None:
        verdict = Verdict(not_applicable="needs 2.4")
        verdict.must(False, expected="x", observed="y")
        assert verdict.grade is Grade.NOT_APPLICABLE


def case_names() -> set[str]:
    """Every test function marked as a case in conformance/test_*.py."""
    names = set()
    for path in CONFORMANCE_DIR.glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and any(
                isinstance(d, ast.Call) and getattr(d.func, "id", "") == "case"
                for d in node.decorator_list
            ):
                names.add(node.name)
    return names


class TestDeviationsFile:
    def test_every_entry_names_a_real_case_and_server(self) -> None:
        deviations = Deviations.load()
        cases = case_names()
        assert len(cases) >= 50
        for entry in deviations.entries:
            assert set(entry.cases) <= cases, entry.cases
            assert set(entry.servers) <= set(SERVERS), entry.servers
            assert entry.observed and entry.why and entry.clause

    def test_find_respects_flavours(self, tmp_path: Path) -> None:
        path = tmp_path / "d.toml"
        path.write_text(
            '[[deviation]]\ncase = "test_x"\nservers = ["daphne"]\nflavours = ["sync"]\n'
            'grade = "FAIL"\nclause = "c"\nobserved = "o"\nwhy = "w"\n'
        )
        deviations = Deviations.load(path)
        assert deviations.find("test_x", "daphne", "sync") is not None
        assert deviations.find("test_x", "daphne", "async") is None
        assert deviations.find("test_x", "uvicorn", "sync") is None

    @pytest.mark.parametrize(
        "body",
        [
            'case = "t"\nservers = ["daphne"]\ngrade = "PASS"\nclause = "c"\nobserved = "o"\n'
            'why = "w"\n',
            'case = "t"\nservers = []\ngrade = "FAIL"\nclause = "c"\nobserved = "o"\nwhy = "w"\n',
            'servers = ["daphne"]\ngrade = "FAIL"\nclause = "c"\nobserved = "o"\nwhy = "w"\n',
        ],
        ids=["pass-is-no-deviation", "no-servers", "no-case"],
    )
    def test_malformed_entries_are_refused(self, tmp_path: Path, body: str) -> None:
        path = tmp_path / "d.toml"
        path.write_text("[[deviation]]\n" + body)
        with pytest.raises(DeviationFileError):
            Deviations.load(path)

    def test_a_cell_recorded_twice_is_refused(self, tmp_path: Path) -> None:
        entry = (
            '[[deviation]]\ncase = "t"\nservers = ["daphne"]\ngrade = "FAIL"\n'
            'clause = "c"\nobserved = "o"\nwhy = "w"\n'
        )
        path = tmp_path / "d.toml"
        path.write_text(entry + entry)
        with pytest.raises(DeviationFileError):
            Deviations.load(path)


def run_cases(out: Path, *args: str) -> tuple[int, list[dict]]:
    """Run the conformance suite with ``args`` in a subprocess; exit code and matrix rows."""
    command = [sys.executable, "-m", "pytest", str(CONFORMANCE_DIR), "-q", "-p", "no:xdist"]
    command += ["--conformance-out", str(out), *args]
    done = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, timeout=120)
    rows = json.loads((out / "matrix.json").read_text())["rows"]
    return done.returncode, rows


def test_known_deviation_is_xfail_and_strict_spec_fails_it(tmp_path: Path) -> None:
    """granian's string ports are recorded: green by default, red with --strict-spec."""
    args = ("-k", "test_scope_client_and_server_are_host_port", "--servers", "granian")
    code, rows = run_cases(tmp_path / "default", *args)
    assert code == 0
    assert [(r["grade"], r["known_deviation"]) for r in rows] == [("FAIL", True)]
    code, rows = run_cases(tmp_path / "strict", *args, "--strict-spec")
    assert code == 1
    assert rows[0]["grade"] == "FAIL"


def test_rows_carry_case_clause_and_flavour(tmp_path: Path) -> None:
    """A flavoured case gives one row per flavour with the fields the matrix needs."""
    code, rows = run_cases(
        tmp_path, "-k", "test_close_without_code_sends_1000", "--servers", "uvicorn"
    )
    assert code == 0
    assert sorted(r["flavour"] for r in rows) == ["async", "sync"]
    for row in rows:
        assert row["grade"] == "PASS" and row["clause"] == "ASGI 2.5 websocket.close code"
        assert row["area"] == "close" and row["title"] and not row["known_deviation"]
    assert (tmp_path / "matrix.md").read_text().startswith("# Conformance matrix")


def test_run_suite_adds_rows_to_the_run(tmp_path: Path) -> None:
    run = Run.create(tmp_path, kind="conformance")
    code = run_suite(run, servers=["uvicorn"], flavours=["async"], workers=2)
    assert code == 0
    rows = run.data["conformance"]
    assert len({r["case"] for r in rows}) >= 50
    assert {r["server"] for r in rows} == {"uvicorn"}
    assert (run.path / "conformance" / "matrix.json").exists()
    assert json.loads(run.data_file.read_text())["conformance"] == rows


def test_run_suite_stops_a_suite_that_overruns(tmp_path: Path) -> None:
    run = Run.create(tmp_path, kind="conformance")
    code = run_suite(run, servers=["daphne"], workers=1, timeout=2.0)
    assert code == TIMEOUT_EXIT
    assert run.data["failures"][0]["section"] == "conformance"
    leftovers = subprocess.run(
        ["pgrep", "-f", f"conformance-out {run.path}"], capture_output=True, text=True
    )
    assert leftovers.stdout == ""


def test_canary_tells_a_dead_server_and_a_restart_revives_it() -> None:
    """The check run after each bad-input case, on a live, a killed and a restarted server."""
    from channels_harness.experiments.conformance.live import canary
    from channels_harness.servers.pool import ServerPool

    pool = ServerPool()
    try:
        server = pool.get("uvicorn")
        assert canary(server) is None
        assert server.popen is not None
        server.popen.kill()
        server.popen.wait()
        assert "exited" in (canary(server) or "")
        assert canary(pool.restart("uvicorn")) is None
    finally:
        pool.stop_all()
