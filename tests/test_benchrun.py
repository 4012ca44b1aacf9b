"""run_bench end to end on a small matrix: rows that fit the results schema,
a failed cell recorded while the matrix goes on, nothing left running; the
presets; and the interleaving every side-by-side comparison relies on."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import psutil

from channels_harness.experiments.bench.interleave import interleave
from channels_harness.experiments.bench.plan import make_plan
from channels_harness.experiments.bench.run import run_bench
from channels_harness.experiments.bench.session import BenchSession, CellFailed
from channels_harness.generators.engine import LoadConfig, LoadResult
from channels_harness.report.model import Run

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
            runs=1,
            progress=lambda description, done, total: steps.append((description, done, total)),
        )
    data = json.loads(run.data_file.read_text())
    jsonschema.validate(data, json.loads(SCHEMA.read_text()))

    [row] = data["throughput"]
    assert (row["server"], row["flavour"], row["runs"], row["errors"]) == ("uvicorn", "async", 1, 0)
    assert row["msgs_per_s"] > 0 and len(row["msgs_per_s_runs"]) == 1
    assert row["generator"] == "loadgen/picows"
    [failure] = [f for f in data["failures"] if f["section"] == "throughput"]
    assert failure["cell"]["flavour"] == "missing"
    assert "no connection could be opened" in failure["message"]

    [headroom] = data["headroom"]
    assert headroom["best_cell"].startswith("uvicorn async")
    assert headroom["ratio"] > 0
    assert [r["flavour"] for r in data["handshake"]] == ["async"]
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
    standard = make_plan("standard", servers, flavours)
    assert len(standard.cells) == 4 * 4 + 2 * 2 * 4 + 2 * 2 * 2
    full = make_plan("full", servers, flavours)
    # every concurrency x payload, plus the headline cell (50 connections)
    assert len(full.cells) == 4 * 4 * (4 * 3 + 1)
    assert make_plan("quick", servers, flavours, runs=1).breakdown_runs == 1


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
    assert session.done == 2 and done.stopped
    assert done.measured() == [("baseline", done.results[0])]
