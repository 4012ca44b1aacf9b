"""The conformance machinery: grading, the deviations file, the pytest plugin and the runner.

The plugin and runner tests run the real suite in a subprocess against real
servers, on a few cases, and read the matrix it writes.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _spawn
import pytest

from channels_harness.experiments.conformance import keepalive
from channels_harness.experiments.conformance.deviations import DeviationFileError, Deviations
from channels_harness.experiments.conformance.grades import Grade
from channels_harness.experiments.conformance.runner import TIMEOUT_EXIT, run_suite
from channels_harness.experiments.conformance.verdict import Verdict, observation_toml
from channels_harness.report.model import Run
from channels_harness.runtime.paths import CONFORMANCE_DIR, PROJECT_DIR
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.registry import SERVERS, get_spec

# An entry's fields other than the case, the servers and the observation.
PROSE = 'clause = "c"\nobserved = "o"\nwhy = "w"\n'
# The keepalive watch's length (s) for suites run to check the runner: a short one.
SHORT_WATCH = "3"


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

    def test_a_key_observed_again_keeps_each_value_once_in_order(self) -> None:
        verdict = Verdict()
        for value in ("TCP closed", None, "TCP closed", 1002):
            verdict.observe("close", value)
        verdict.observe("status", True)
        assert verdict.observations == {"close": ["TCP closed", "none", "1002"], "status": ["true"]}

    def test_a_case_that_observes_nothing_is_matched_on_its_observed_text(self) -> None:
        verdict = Verdict()
        verdict.must(False, expected="a", observed="status 500")
        assert verdict.observation == {"observed": ["status 500"]}
        verdict.observe("status", 500)
        assert verdict.observation == {"status": ["500"]}
        assert 'observation = { status = "500" }' in verdict.message()


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

    def test_every_entry_records_what_its_case_observed(self) -> None:
        for entry in Deviations.load().entries:
            assert entry.observation and all(entry.observation.values()), entry.cases

    def test_find_respects_flavours(self, tmp_path: Path) -> None:
        path = tmp_path / "d.toml"
        path.write_text(
            '[[deviation]]\ncase = "test_x"\nservers = ["daphne"]\nflavours = ["sync"]\n'
            'grade = "FAIL"\nobservation = { close = "TCP closed" }\n' + PROSE
        )
        deviations = Deviations.load(path)
        assert deviations.find("test_x", "daphne", "sync") is not None
        assert deviations.find("test_x", "daphne", "async") is None
        assert deviations.find("test_x", "uvicorn", "sync") is None

    @pytest.mark.parametrize(
        "body",
        [
            'case = "t"\nservers = ["daphne"]\ngrade = "PASS"\nobservation = { a = 1 }\n' + PROSE,
            'case = "t"\nservers = []\ngrade = "FAIL"\nobservation = { a = 1 }\n' + PROSE,
            'servers = ["daphne"]\ngrade = "FAIL"\nobservation = { a = 1 }\n' + PROSE,
            'case = "t"\nservers = ["daphne"]\ngrade = "FAIL"\n' + PROSE,
            'case = "t"\nservers = ["daphne"]\ngrade = "FAIL"\nobservation = {}\n' + PROSE,
            'case = "t"\nservers = ["daphne"]\ngrade = "FAIL"\nobservation = { a = [] }\n' + PROSE,
            'case = "t"\nservers = ["daphne"]\ngrade = "FAIL"\nobservation = { a = 1.5 }\n' + PROSE,
        ],
        ids=[
            "pass-is-no-deviation",
            "no-servers",
            "no-case",
            "no-observation",
            "empty-observation",
            "empty-value-list",
            "float-value",
        ],
    )
    def test_malformed_entries_are_refused(self, tmp_path: Path, body: str) -> None:
        path = tmp_path / "d.toml"
        path.write_text("[[deviation]]\n" + body)
        with pytest.raises(DeviationFileError):
            Deviations.load(path)

    def test_a_cell_recorded_twice_is_refused(self, tmp_path: Path) -> None:
        entry = (
            '[[deviation]]\ncase = "t"\nservers = ["daphne"]\ngrade = "FAIL"\n'
            "observation = { status = 101 }\n" + PROSE
        )
        path = tmp_path / "d.toml"
        path.write_text(entry + entry)
        with pytest.raises(DeviationFileError):
            Deviations.load(path)


class TestMatchingAnObservation:
    """A known deviation holds for a case only with the same grade and observation."""

    @staticmethod
    def entry(tmp_path: Path, observation: str) -> Deviations:
        path = tmp_path / "d.toml"
        path.write_text(
            '[[deviation]]\ncase = "t"\nservers = ["daphne"]\ngrade = "NON-STRICT"\n'
            f"observation = {observation}\n" + PROSE
        )
        return Deviations.load(path)

    def test_the_same_grade_and_observation_match(self, tmp_path: Path) -> None:
        (entry,) = self.entry(tmp_path, '{ close = "TCP closed", status = 101 }').entries
        seen = {"close": ["TCP closed"], "status": ["101"], "other": ["x"]}
        assert entry.mismatch(Grade.NON_STRICT, seen) is None

    def test_a_recorded_list_is_the_set_of_values_seen(self, tmp_path: Path) -> None:
        (entry,) = self.entry(tmp_path, '{ close = ["TCP closed", "close 1002"] }').entries
        assert entry.mismatch(Grade.NON_STRICT, {"close": ["close 1002", "TCP closed"]}) is None
        assert entry.mismatch(Grade.NON_STRICT, {"close": ["TCP closed"]}) is not None

    def test_another_value_another_grade_or_a_missing_key_do_not_match(
        self, tmp_path: Path
    ) -> None:
        (entry,) = self.entry(tmp_path, '{ close = "TCP closed" }').entries
        changed = entry.mismatch(Grade.NON_STRICT, {"close": ["close 1002"]})
        assert changed is not None and "close: recorded 'TCP closed', now 'close 1002'" in changed
        assert 'now: observation = { close = "close 1002" }' in changed
        regraded = entry.mismatch(Grade.FAIL, {"close": ["TCP closed"]})
        assert regraded is not None and "grade: recorded NON-STRICT, now FAIL" in regraded
        missing = entry.mismatch(Grade.NON_STRICT, {"status": ["400"]})
        assert missing is not None and "close: recorded 'TCP closed', not observed now" in missing

    def test_the_printed_observation_line_is_an_entry_that_matches(self, tmp_path: Path) -> None:
        verdict = Verdict()
        verdict.should(False, expected="close 1002", observed="TCP closed")
        for value in ("TCP closed", "reason 'é \"quoted\"'", None, 1006):
            verdict.observe("seen", value)
        line = observation_toml(verdict.observations)
        assert tomllib.loads(line)["observation"]["seen"][1] == "reason 'é \"quoted\"'"
        (entry,) = self.entry(tmp_path, line.removeprefix("observation = ")).entries
        assert entry.mismatch(verdict.grade, verdict.observation) is None


def run_cases(out: Path, *args: str) -> tuple[int, list[dict]]:
    """Run the conformance suite with ``args`` in a subprocess; exit code and matrix rows."""
    code, rows, _ = run_cases_output(out, *args)
    return code, rows


def run_cases_output(out: Path, *args: str) -> tuple[int, list[dict], str]:
    """:func:`run_cases`, and pytest's output too."""
    command = [sys.executable, "-m", "pytest", str(CONFORMANCE_DIR), "-q", "-p", "no:xdist"]
    command += ["--conformance-out", str(out), *args]
    done = _spawn.run(command, cwd=PROJECT_DIR, timeout=120)
    rows = json.loads((out / "matrix.json").read_text())["rows"]
    return done.returncode, rows, done.stdout + done.stderr


def test_known_deviation_is_xfail_and_strict_spec_fails_it(tmp_path: Path) -> None:
    """granian's string ports are recorded: green by default, red with --strict-spec."""
    args = ("-k", "test_scope_client_and_server_are_host_port", "--servers", "granian")
    code, rows = run_cases(tmp_path / "default", *args)
    assert code == 0
    assert [(r["grade"], r["known_deviation"]) for r in rows] == [("FAIL", True)]
    code, rows = run_cases(tmp_path / "strict", *args, "--strict-spec")
    assert code == 1
    assert rows[0]["grade"] == "FAIL"


HOSTLESS = "test_handshake_without_host_is_refused"


def hostless_entry(tmp_path: Path, server: str, status: int) -> Path:
    """A deviations file recording that uvicorn answers an upgrade without Host with
    ``status`` (it answers 101)."""
    path = tmp_path / f"{server}-{status}.toml"
    path.write_text(
        f'[[deviation]]\ncase = "{HOSTLESS}"\nservers = ["{server}"]\ngrade = "FAIL"\n'
        f"observation = {{ status = {status} }}\n" + PROSE
    )
    return path


def test_a_known_deviation_fails_when_the_case_observes_something_else(tmp_path: Path) -> None:
    """uvicorn completes an upgrade without Host (101): recorded as 101 the case is a
    strict xfail; recorded as 400 (the same grade, another observation) it fails."""
    args = ("-k", HOSTLESS, "--servers", "uvicorn", "--conformance-deviations")
    code, rows, output = run_cases_output(
        tmp_path / "as-recorded", *args, str(hostless_entry(tmp_path, "uvicorn", 101))
    )
    assert code == 0, output
    assert "1 xfailed" in output
    assert [(r["grade"], r["known_deviation"], r["observation"]) for r in rows] == [
        ("FAIL", True, {"status": ["101"]})
    ]
    code, rows, output = run_cases_output(
        tmp_path / "changed", *args, str(hostless_entry(tmp_path, "uvicorn", 400))
    )
    assert code == 1, output
    assert "1 failed" in output
    assert "status: recorded '400', now '101'" in output
    assert [(r["grade"], r["known_deviation"]) for r in rows] == [("FAIL", False)]


def test_a_deviations_file_that_is_not_there_is_a_usage_error(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "pytest", str(CONFORMANCE_DIR), "-q", "-p", "no:xdist"]
    command += ["--conformance-deviations", str(tmp_path / "absent.toml"), "--collect-only"]
    done = _spawn.run(command, cwd=PROJECT_DIR, timeout=120)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "absent.toml: no such file" in done.stderr


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


def test_run_suite_adds_rows_to_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(keepalive.WATCH_VARIABLE, SHORT_WATCH)  # the plumbing, not the pings
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


Cli = Callable[..., "subprocess.CompletedProcess[str]"]


def test_conformance_url_applies_the_deviations_of_the_named_server(
    tmp_path: Path, cli: Cli, run_data: Callable[[Path], Any]
) -> None:
    """A running uvicorn (started here) graded through --url --server-name uvicorn, with
    --deviations FILE: the bundled file less its entry for the Host case. Every other
    deviation of uvicorn is known; the Host case is new and fails the run."""
    bundled = (CONFORMANCE_DIR / "deviations.toml").read_text(encoding="utf-8")
    entries = bundled.split("[[deviation]]\n")
    kept = [e for e in entries if not e.startswith(f'case = "{HOSTLESS}"')]
    assert len(kept) == len(entries) - 1
    own = tmp_path / "deviations.toml"
    own.write_text("[[deviation]]\n".join(kept), encoding="utf-8")
    with ServerProcess(get_spec("uvicorn")) as server:
        done = cli(
            "conformance", "--url", server.ws_url("/ws/echo/async/"), "--server-name", "uvicorn",
            "--deviations", str(own), "--workers", "1", "--results", str(tmp_path), timeout=300,
        )  # fmt: skip
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    data = run_data(tmp_path)
    rows = data["conformance"]
    assert {row["server"] for row in rows} == {"uvicorn"}
    deviating = {row["case"]: row for row in rows if row["grade"] in ("FAIL", "NON-STRICT")}
    assert len(deviating) >= 3, deviating
    assert {case for case, row in deviating.items() if not row["known_deviation"]} == {HOSTLESS}
    assert "without_host_is_refused (NEW)" in " ".join(done.stdout.split())
    assert (data["options"]["server_name"], data["options"]["deviations"]) == ("uvicorn", str(own))
    assert data["servers"]["uvicorn"]["version"] == "not known (a running server)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--server-name", "uvicorn"], "--server-name names the running server of --url"),
        (["--deviations", "absent.toml"], "absent.toml: no such file"),
        (["--deviations", "bad.toml"], "observation is a table"),
    ],
    ids=["name-without-url", "missing-file", "entry-without-observation"],
)
def test_conformance_refuses_bad_deviation_options_in_one_line(
    tmp_path: Path, cli: Cli, args: list[str], message: str
) -> None:
    (tmp_path / "bad.toml").write_text(
        '[[deviation]]\ncase = "t"\nservers = ["uvicorn"]\ngrade = "FAIL"\n' + PROSE
    )
    argv = [str(tmp_path / a) if a.endswith(".toml") else a for a in args]
    done = cli("conformance", *argv, "--results", str(tmp_path / "results"), timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(("code", "grade"), [(5000, Grade.FAIL), (999, Grade.PASS)])
def test_an_invalid_close_code_echoed_back_is_a_fail(
    raw_echo: ServerProcess, code: int, grade: Grade
) -> None:
    """The raw echo server (picows) echoes a client's close 5000 but answers 999 with
    1002: the invalid-code cases' check tells the two apart."""
    from channels_harness.experiments.conformance.exchange import after_sending
    from channels_harness.experiments.conformance.live import expect_invalid_close_code_failed
    from channels_harness.protocol import wire

    verdict = Verdict()
    data = wire.build_frame(wire.Opcode.CLOSE, wire.close_payload(code))
    expect_invalid_close_code_failed(verdict, after_sending(raw_echo, data), code)
    assert verdict.grade is grade, verdict.message()
    missed = [check.expected for check in verdict.checks if not check.ok]
    assert (f"the invalid code {code} never echoed on the wire" in missed) is (code == 5000)
