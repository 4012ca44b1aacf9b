"""run_bench end to end on a small matrix: rows that fit the results schema,
a failed cell recorded while the matrix goes on, nothing left running; the
presets; the interleaving every side-by-side comparison relies on, and its
repeats until the confidence intervals settle."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import psutil

from channels_harness.experiments.bench.figures import settled, too_noisy
from channels_harness.experiments.bench.interleave import interleave, repeat_until_settled
from channels_harness.experiments.bench.plan import Cell, Rounds, make_plan
from channels_harness.experiments.bench.run import run_bench
from channels_harness.experiments.bench.session import BenchSession, CellFailed
from channels_harness.experiments.bench.throughput import throughput_row
from channels_harness.generators.engine import LoadConfig, LoadResult, WorkerResult
from channels_harness.report import markdown
from channels_harness.report.model import Run
from channels_harness.runtime.noise import Window
from channels_harness.runtime.pinning import Pinning

SCHEMA = Path(__file__).parent.parent / "channels_harness" / "report" / "schema.json"


def test_a_small_matrix_fills_every_section_and_records_the_failed_cell(tmp_path: Path) -> None:
    run = Run.create(tmp_path, kind="bench")
    steps: list[tuple[str, int, int]] = []
    # servers of other tests in this pytest process (the session pool) are not ours
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with run.recording():
        run_bench(
            run,
            quick=True,
            servers=["uvicorn"],
            # "missing" has no route: every connection is refused, the cell fails
            flavours=["async", "missing"],
            runs=2,
            progress=lambda description, done, total: steps.append((description, done, total)),
        )
    data = json.loads(run.data_file.read_text())
    jsonschema.validate(data, json.loads(SCHEMA.read_text()))

    [row] = data["throughput"]
    assert (row["server"], row["flavour"], row["runs"], row["errors"]) == ("uvicorn", "async", 2, 0)
    assert row["msgs_per_s"] > 0 and len(row["msgs_per_s_runs"]) == 2
    assert row["generator"] == "loadgen/picows"
    # two runs give a range, which the runs show; a 95% CI needs six
    assert row["ci95"] is None and isinstance(row["unstable"], bool)
    assert isinstance(row["dropped_runs"], int)
    assert row["series"] == "throughput c=50 32B-text" and row["tls"] is False
    # the server's CPU over exactly the measured windows, per message
    assert 1 < row["server_cpu_us_per_msg"] < 100_000
    assert len(row["server_cpu_us_per_msg_runs"]) == 2
    assert row["noise"]["runs"] == 2 and row["noise"]["steal_pct"] >= 0
    [failure] = [f for f in data["failures"] if f["section"] == "throughput"]
    assert failure["cell"]["flavour"] == "missing"
    assert "no connection could be opened" in failure["message"]

    [headroom] = data["headroom"]
    assert headroom["best_cell"].startswith("uvicorn async")
    assert headroom["ratio"] > 0
    [handshake] = data["handshake"]
    assert (handshake["flavour"], handshake["tls"], handshake["runs"]) == ("async", False, 2)
    assert handshake["server_cpu_us_per_handshake"] > 0 and handshake["ci95"] is None
    assert "| range " in markdown.render(data)
    assert [r["flavour"] for r in data["latency"]] == ["async"]
    layers = [r["layer"] for r in data["breakdown"]]
    assert layers[:4] == [
        "raw echo (picows, no ASGI)",
        "bare ASGI echo (no Channels)",
        "AsyncConsumer",
        "SyncConsumer",
    ]
    assert {"uvicorn", "raw-echo"} <= set(data["servers"])
    assert data["options"]["pinning"]["pinned"] in (True, False)
    assert data["status"] == "complete"

    total = steps[-1][2]
    assert steps[-1][1] == total
    assert [done for _, done, _ in steps] == sorted(done for _, done, _ in steps)
    leftovers = [
        p
        for p in psutil.Process().children(recursive=True)
        if p.pid not in before
        and any(name in " ".join(p.cmdline()) for name in ("uvicorn", "rawecho", "loadgen"))
    ]
    assert leftovers == []


def test_the_presets_choose_what_their_docstring_says() -> None:
    servers = ("daphne", "uvicorn", "hypercorn", "granian")
    flavours = ("sync", "async", "generic-sync", "generic-async")
    quick = make_plan("quick", servers, flavours)
    assert quick.servers == ("daphne", "uvicorn") and len(quick.cells) == 8
    assert not any(cell.tls for cell in quick.cells) and not quick.tls_handshakes
    # headline cells measure the 6 runs a 95% CI needs; each measurement may redo 2
    # rounds too noisy to keep
    assert (quick.runs, quick.max_runs, quick.handshake_rounds) == (6, 6, Rounds(3, 3, 2))
    standard = make_plan("standard", servers, flavours)
    assert standard.rounds == Rounds(6, 6, 2) and standard.handshake_rounds == Rounds(3, 5, 2)
    assert standard.rounds_for(Cell("daphne", "sync", 1000, "32B-text")) == Rounds(3, 3, 2)
    # headline x 4 flavours, focus sweeps for sync and async, then sync and async over TLS
    assert len(standard.cells) == 4 * 4 + 2 * 2 * 4 + 2 * 2 * 2 + 4 * 2
    assert {(c.server, c.flavour) for c in standard.cells if c.tls} == {
        (server, flavour) for server in servers for flavour in ("sync", "async")
    }
    assert standard.handshake_members("granian") == [
        ("sync", False),
        ("sync", True),
        ("async", False),
        ("async", True),
    ]
    full = make_plan("full", servers, flavours)
    assert full.rounds == Rounds(6, 10, 2) and full.handshake_rounds == Rounds(6, 10, 2)
    # every concurrency x payload, plus the headline cell (50 connections), plus TLS
    assert len(full.cells) == 4 * 4 * (4 * 3 + 1) + 4 * 4
    fixed = make_plan("quick", servers, flavours, runs=1)
    assert (fixed.runs, fixed.max_runs, fixed.breakdown_runs, fixed.headroom_runs) == (1, 1, 1, 1)
    assert fixed.handshake_rounds == Rounds(1, 1, 2)
    assert make_plan("quick", servers, flavours, runs=3, max_runs=6).rounds == Rounds(3, 6, 2)
    with_tls = make_plan("quick", servers, flavours, tls=True)
    assert [c.label for c in with_tls.cells if c.tls] == [
        "daphne sync TLS c=50 32B-text",
        "daphne async TLS c=50 32B-text",
        "uvicorn sync TLS c=50 32B-text",
        "uvicorn async TLS c=50 32B-text",
    ]
    assert not any(c.tls for c in make_plan("standard", servers, flavours, tls=False).cells)


def _counting_session(tmp_path: Path, steps: list[tuple[str, int, int]]) -> BenchSession:
    run = Run.create(tmp_path, kind="bench")
    plan = make_plan("quick", ("uvicorn",), ("async",))
    return BenchSession(run, plan, 0, lambda text, done, total: steps.append((text, done, total)))


def _measuring(calls: list[str], fails: set[tuple[str, int]]) -> Callable[[str], LoadResult]:
    """A measure function that logs each call and fails member m's run k if (m, k) in fails."""

    def measure(member: str) -> LoadResult:
        calls.append(member)
        if (member, calls.count(member)) in fails:
            raise CellFailed
        return LoadResult(LoadConfig(url="ws://127.0.0.1:9/"), workers=[])

    return measure


def test_interleaving_runs_every_member_once_per_round_and_skips_a_failed_member(
    tmp_path: Path,
) -> None:
    steps: list[tuple[str, int, int]] = []
    session = _counting_session(tmp_path, steps)
    calls: list[str] = []
    done = interleave(
        session,
        ["a", "b", "c"],
        3,
        lambda member, index: f"{member}{index}",
        _measuring(calls, {("b", 2)}),
    )
    # b fails in round 2 and is not measured again; its round-3 step still counts
    assert calls == ["a", "b", "c", "a", "b", "c", "a", "c"]
    # every step reported before (done = k) and after (done = k + 1)
    expected = [f"{member}{index}" for index in range(3) for member in "abc"]
    assert steps == [
        (text, done, 0)
        for position, text in enumerate(expected)
        for done in (position, position + 1)
    ]
    assert [(member, len(runs)) for member, runs in done.measured()] == [("a", 3), ("c", 3)]
    assert done.failed == {1} and not done.stopped


def test_interleaving_that_needs_every_member_stops_at_the_first_failure(tmp_path: Path) -> None:
    steps: list[tuple[str, int, int]] = []
    session = _counting_session(tmp_path, steps)
    calls: list[str] = []
    done = interleave(
        session,
        ["baseline", "best"],
        3,
        lambda member, index: f"{member}{index}",
        _measuring(calls, {("best", 1)}),
        stop_at_first_failure=True,
    )
    assert calls == ["baseline", "best"]
    # the steps of the rounds that will not run are counted, so progress ends at the total
    assert session.done == 2 * 3 and done.stopped
    assert steps[-1][0] == "stopped after 0 round(s): a member failed"
    assert done.measured() == [("baseline", done.results[0])]


def _result(rate: float) -> LoadResult:
    """A one-process closed-loop result of ``rate`` messages per second."""
    worker = WorkerResult(mode="closed", connections=50, measured=round(rate), window_s=1.0)
    return LoadResult(LoadConfig(url="ws://127.0.0.1:9/"), workers=[worker])


def _rates(table: dict[str, list[float]]) -> Callable[[str], LoadResult]:
    """A measure function giving each member's rates in turn."""
    taken: dict[str, int] = {}

    def measure(member: str) -> LoadResult:
        taken[member] = taken.get(member, 0) + 1
        return _result(table[member][taken[member] - 1])

    return measure


def test_repeats_stop_once_every_member_settled_and_count_the_skipped_steps(
    tmp_path: Path,
) -> None:
    steps: list[tuple[str, int, int]] = []
    session = _counting_session(tmp_path, steps)
    session.total = 2 * 8
    steady = {"a": [1000.0] * 8, "b": [2000.0, 2010.0, 1990.0, 2000.0, 2005.0] + [2000.0] * 3}
    done = repeat_until_settled(
        session,
        ["a", "b"],
        Rounds(3, 8),
        lambda m, i: f"{m}{i}",
        _rates(steady),
        lambda runs: settled(runs, 5.0),
    )
    assert [len(runs) for _, runs in done.measured()] == [3, 3]
    assert done.rounds_done == 3 and session.done == session.total


def test_repeats_go_on_to_the_budget_while_a_member_scatters(tmp_path: Path) -> None:
    steps: list[tuple[str, int, int]] = []
    session = _counting_session(tmp_path, steps)
    session.total = 2 * 6
    scattered = {
        "steady": [1000.0] * 6,
        "noisy": [1000.0, 1400.0, 700.0, 1300.0, 800.0, 1200.0],
    }
    done = repeat_until_settled(
        session,
        ["steady", "noisy"],
        Rounds(3, 6),
        lambda m, i: f"{m}{i}",
        _rates(scattered),
        lambda runs: settled(runs, 5.0),
    )
    assert [len(runs) for _, runs in done.measured()] == [6, 6]
    assert session.done == session.total


def test_a_cell_that_never_settled_is_stored_and_reported_unstable(tmp_path: Path) -> None:
    session = _counting_session(tmp_path, [])
    cell = Cell("uvicorn", "async", 50, "32B-text")
    scattered = [_result(r) for r in (900, 1300, 1000, 700, 1200, 1100)]
    tight = [_result(r) for r in (990, 1000, 1010, 1005, 995, 1000)]
    unsettled = throughput_row(session, cell, scattered)
    assert unsettled.unstable and unsettled.ci95 == [700.0, 1300.0]
    assert not throughput_row(session, cell, tight).unstable
    assert throughput_row(session, cell, tight).ci95 == [990.0, 1010.0]
    session.run.add(unsettled)
    assert "**Unstable cells** (1)" in markdown.verdict(session.run.data)
    assert "uvicorn async c=50 32B-text" in markdown.verdict(session.run.data)


def test_a_member_failing_every_round_ends_the_measurement_without_saying_settled(
    tmp_path: Path,
) -> None:
    steps: list[tuple[str, int, int]] = []
    session = _counting_session(tmp_path, steps)
    session.total = 2 * 6
    calls: list[str] = []
    done = repeat_until_settled(
        session,
        ["a", "b"],
        Rounds(3, 6),
        lambda m, i: f"{m}{i}",
        _measuring(calls, {("a", 1), ("b", 1)}),
        lambda runs: settled(runs, 5.0),
    )
    assert calls == ["a", "b"] and done.measured() == []
    said = [text for text, _, _ in steps]
    assert not any("settled" in text for text in said), said
    assert said[-1] == "every member failed; 1 round(s) measured"
    assert session.done == session.total


def test_settling_is_still_said_when_the_members_settle(tmp_path: Path) -> None:
    steps: list[tuple[str, int, int]] = []
    session = _counting_session(tmp_path, steps)
    done = repeat_until_settled(
        session,
        ["a"],
        Rounds(3, 6),
        lambda m, i: f"{m}{i}",
        _rates({"a": [1000.0] * 6}),
        lambda runs: settled(runs, 5.0),
    )
    assert done.rounds_done == 3 and steps[-1][0] == "settled after 3 rounds"


def _noisy(rate: float, steal_s: float) -> LoadResult:
    """A result whose window saw ``steal_s`` of CPU steal on core 0 over 1 s."""
    window = Window(wall_s=1.0, busy_s=[0.5, 0.5], steal_s=[steal_s, 0.0], pressure_s=0.0)
    worker = WorkerResult(
        mode="closed",
        connections=50,
        measured=round(rate),
        window_s=1.0,
        cpu=0.5,
        server_cpu_s=0.5,
        noise=window.to_json(),
    )
    return LoadResult(LoadConfig(url="ws://127.0.0.1:9/"), workers=[worker])


def test_a_round_too_noisy_to_keep_is_dropped_redone_and_counted(tmp_path: Path) -> None:
    session = _counting_session(tmp_path, [])
    session.pins = Pinning(server=frozenset({0}), generator=frozenset({1}))
    # the second round of "a" ran with 30% of the server's core stolen
    steals = {"a": [0.0, 0.3, 0.0, 0.0], "b": [0.0, 0.0, 0.0, 0.0]}
    rates = {"a": [1000.0, 700.0, 1000.0, 1000.0], "b": [2000.0] * 4}
    taken: dict[str, int] = {}

    def measure(member: str) -> LoadResult:
        taken[member] = taken.get(member, 0) + 1
        index = taken[member] - 1
        return _noisy(rates[member][index], steals[member][index])

    done = repeat_until_settled(
        session,
        ["a", "b"],
        Rounds(3, 3, redo=2),
        lambda m, i: f"{m}{i}",
        measure,
        lambda runs: settled(runs, 5.0),
        too_noisy=lambda result: too_noisy(session, result),
    )
    # the whole round went (b's run too, so the rounds still pair), and was redone
    assert [[r.rate for r in runs] for _, runs in done.measured()] == [
        [1000.0, 1000.0, 1000.0],
        [2000.0, 2000.0, 2000.0],
    ]
    assert done.dropped == [1, 1] and done.rounds_dropped == 1
    row = throughput_row(session, Cell("uvicorn", "async", 50, "32B-text"), done.results[0], 1)
    assert row.dropped_runs == 1
    session.run.add(row)
    assert "1 noisy run(s) redone" in markdown.render(session.run.data)


def test_noisy_rounds_are_kept_once_the_redo_budget_is_spent(tmp_path: Path) -> None:
    session = _counting_session(tmp_path, [])
    session.pins = Pinning(server=frozenset({0}), generator=frozenset({1}))
    done = repeat_until_settled(
        session,
        ["a"],
        Rounds(3, 3, redo=1),
        lambda m, i: f"{m}{i}",
        lambda member: _noisy(1000.0, 0.3),
        lambda runs: settled(runs, 5.0),
        too_noisy=lambda result: too_noisy(session, result),
    )
    assert len(done.results[0]) == 3 and done.dropped == [1]
    quiet = repeat_until_settled(
        session,
        ["a"],
        Rounds(3, 3, redo=2),
        lambda m, i: f"{m}{i}",
        lambda member: _noisy(1000.0, 0.01),
        lambda runs: settled(runs, 5.0),
        too_noisy=lambda result: too_noisy(session, result),
    )
    assert quiet.dropped == [0] and quiet.rounds_done == 3


def test_a_cell_of_three_runs_publishes_a_range_not_a_95_percent_ci(tmp_path: Path) -> None:
    session = _counting_session(tmp_path, [])
    cell = Cell("uvicorn", "async", 10, "32B-text")
    row = throughput_row(session, cell, [_result(r) for r in (900, 1000, 1100)])
    assert row.ci95 is None and row.unstable
    session.run.add(row)
    table = markdown.render(session.run.data)
    assert "| range 900-1,100 |" in table and "95% CI 900" not in table
    six = throughput_row(session, cell, [_result(r) for r in (900, 950, 1000, 1000, 1050, 1100)])
    assert six.ci95 == [900.0, 1100.0]
