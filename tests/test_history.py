"""The history of a results folder: runs and versions stacks as points, each
headline cell a series with the interval its row states, change points with what
changed, the console tables and the ``history`` command; over hand-made runs
(inputs, not measurements) and over the committed runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from channels_harness.cli import main
from channels_harness.report import history
from channels_harness.runtime.paths import RESULTS_DIR

VERSIONS = {"channels": "4.3.2", "daphne": "4.2.3", "uvicorn": "0.54.0", "django": "5.2.19"}


def cell(server: str, flavour: str, rate: float, spread: float = 0.02) -> dict[str, Any]:
    """A throughput row of the headline cell: six runs within 1.5% and a 95% CI of
    ``spread`` either side."""
    return {
        "scenario": "echo",
        "server": server,
        "flavour": flavour,
        "concurrency": 50,
        "payload": "32B-text",
        "runs": 6,
        "msgs_per_s": rate,
        "msgs_per_s_runs": [rate * f for f in (0.99, 1.0, 1.01, 0.985, 1.015, 1.0)],
        "ci95": [rate * (1 - spread), rate * (1 + spread)],
        "series": "throughput-1",
        "p99_ms": 10.0,
        "p99_ms_runs": [9.5, 10.0, 10.5, 9.8, 10.2],
        "generator_bound": False,
    }


def run_data(run_id: str, rates: dict[str, float], **extra: Any) -> dict[str, Any]:
    """A run of daphne sync and async (``rates`` by flavour), commit from the run id."""
    return {
        "run_id": run_id,
        "kind": "bench",
        "status": "complete",
        "started": f"{run_id[:4]}-{run_id[4:6]}-{run_id[6:8]}T{run_id[9:11]}:00:00+00:00",
        "environment": {
            "git": {"commit": f"{run_id[:8]}ab" + "0" * 30, "dirty": False},
            "versions": dict(VERSIONS),
            "cpu_model": "Test CPU",
            "host": "vm",
        },
        "throughput": [cell("daphne", flavour, rate) for flavour, rate in rates.items()],
        **extra,
    }


def publish(folder: Path, data: dict[str, Any]) -> None:
    (folder / data["run_id"]).mkdir(parents=True)
    (folder / data["run_id"] / "data.json").write_text(json.dumps(data), encoding="utf-8")


@pytest.fixture
def stepped(tmp_path: Path) -> Path:
    """Six runs; daphne async steps from 4,000 to 6,000 msgs/s at the fourth, sync stays."""
    for day, asynchronous in enumerate((4000, 4040, 3980, 6000, 6050, 5990), start=1):
        publish(tmp_path, run_data(f"202601{day:02d}T10Z", {"sync": 2000, "async": asynchronous}))
    return tmp_path


def series(found: history.History, key: str, cell_name: str) -> history.Series:
    (one,) = [s for s in found.series if s.headline.key == key and s.cell == cell_name]
    return one


def test_a_step_in_one_cell_is_named_at_its_run_with_what_changed(stepped: Path) -> None:
    found = history.collect(stepped)
    assert [c.run_id for c in found.contexts] == sorted(c.run_id for c in found.contexts)
    moved = series(found, "throughput", "daphne async c=50 32B-text")
    (change,) = moved.changes
    assert change.point.context.run_id == "20260104T10Z"
    assert change.previous.context.run_id == "20260103T10Z"
    assert (change.previous.value, change.point.value) == (3980, 6000)
    assert change.changed == ["commit 20260103ab -> 20260104ab"]
    assert series(found, "throughput", "daphne sync c=50 32B-text").changes == []
    ratio = series(found, "sync-vs-async", "daphne: async / sync, c=50 32B-text")
    assert [c.point.context.run_id for c in ratio.changes] == ["20260104T10Z"]
    assert all(p.label == "95% CI" for p in moved.points)


def test_points_keep_the_interval_and_label_their_row_states(tmp_path: Path) -> None:
    old = run_data("20260101T10Z", {"sync": 2000, "async": 4000})
    for row in old["throughput"]:
        del row["ci95"], row["series"]  # an older run: its interval comes from its runs
    few = run_data("20260102T10Z", {"sync": 2000, "async": 4000})
    for row in few["throughput"]:
        row["msgs_per_s_runs"] = row["msgs_per_s_runs"][:3]  # too few runs for a 95% CI
    publish(tmp_path, old)
    publish(tmp_path, few)
    publish(tmp_path, run_data("20260103T10Z", {"sync": 2000, "async": 4000}))
    found = history.collect(tmp_path)
    points = series(found, "throughput", "daphne async c=50 32B-text").points
    # Intervals come from the stored runs, as every report computes them (7 runs: a
    # 95% CI, here their whole range; 3 runs: the range, called so), never from ci95.
    assert [(p.label, p.low, p.high) for p in points] == [
        ("95% CI", pytest.approx(3940), pytest.approx(4060)),
        ("range", pytest.approx(3960), pytest.approx(4040)),
        ("95% CI", pytest.approx(3940), pytest.approx(4060)),
    ]
    ratio = series(found, "sync-vs-async", "daphne: async / sync, c=50 32B-text").points
    assert ratio[0].label == "range" and ratio[-1].label == "95% CI"
    p99 = series(found, "p99", "daphne async c=50 32B-text").points
    assert [(p.low, p.high, p.label) for p in p99] == [(9.5, 10.5, "range")] * 3


def test_the_stacks_of_a_versions_run_are_points_in_their_order(tmp_path: Path) -> None:
    stacks = [VERSIONS, {**VERSIONS, "channels": "4.1.0"}, {**VERSIONS, "daphne": "4.2.1"}]
    data = run_data("20260105T10Z", {}, kind="versions")
    data["throughput"] = [
        {**cell("uvicorn", "async", rate), "stack": stack}
        for stack, rate in zip(stacks, (4000, 9000, 4050), strict=True)
    ]
    before = run_data("20260101T10Z", {})
    before["throughput"] = [cell("uvicorn", "async", 4020)]
    publish(tmp_path, before)
    publish(tmp_path, data)
    found = history.collect(tmp_path)
    assert [c.name for c in found.contexts] == [
        "20260101T10Z",  # a versions run's own point is left out: its stacks are its points
        "20260105T10Z [django 5.2.19, channels 4.3.2, daphne 4.2.3, uvicorn 0.54.0]",
        "20260105T10Z [django 5.2.19, channels 4.1.0, daphne 4.2.3, uvicorn 0.54.0]",
        "20260105T10Z [django 5.2.19, channels 4.3.2, daphne 4.2.1, uvicorn 0.54.0]",
    ]
    moved = series(found, "throughput", "uvicorn async c=50 32B-text")
    assert [p.value for p in moved.points] == [4020, 4000, 9000, 4050]
    (up, down) = moved.changes
    assert up.changed == ["channels 4.3.2 -> 4.1.0"] and up.point.value == 9000
    assert down.changed == ["channels 4.1.0 -> 4.3.2", "daphne 4.2.3 -> 4.2.1"]


def test_cost_rows_are_series_with_a_fixed_relative_bound(tmp_path: Path) -> None:
    for day, instructions in enumerate((480_000, 482_000, 479_500, 496_000), start=1):
        cost = [{"server": "uvicorn", "flavour": "async", "instructions_per_msg": instructions}]
        cost[0]["syscalls_per_msg"] = 24.7
        publish(tmp_path, run_data(f"202601{day:02d}T10Z", {"async": 4000}, cost=cost))
    found = history.collect(tmp_path)
    counted = series(found, "instructions", "uvicorn async")
    assert [p.label for p in counted.points] == ["±1% bound"] * 4
    # 0.4% and 0.5% moves are the bound's noise; 3.4% is a change.
    assert [c.point.context.run_id for c in counted.changes] == ["20260104T10Z"]
    assert series(found, "syscalls", "uvicorn async").changes == []


def test_grade_counts_per_server_change_with_one_case(tmp_path: Path) -> None:
    def graded(grades: list[str]) -> list[dict[str, Any]]:
        return [
            {"case": f"case_{i}", "clause": "", "server": "daphne", "flavour": "async"}
            | {"grade": grade, "observed": ""}
            for i, grade in enumerate(grades)
        ]

    publish(tmp_path, run_data("20260101T10Z", {}, conformance=graded(["PASS", "PASS", "FAIL"])))
    publish(tmp_path, run_data("20260102T10Z", {}, conformance=graded(["PASS", "PASS", "FAIL"])))
    publish(tmp_path, run_data("20260103T10Z", {}, conformance=graded(["PASS", "FAIL", "FAIL"])))
    found = history.collect(tmp_path)
    assert {s.cell for s in found.series} == {"daphne PASS", "daphne FAIL"}  # no empty grade
    (change,) = series(found, "conformance", "daphne FAIL").changes
    assert (change.previous.value, change.point.value) == (1, 2)
    assert change.point.context.run_id == "20260103T10Z"


def test_what_changed_names_versions_and_machine() -> None:
    def context(commit: str, versions: dict[str, str], cpu: str) -> history.Context:
        return history.Context(1, "r", "", "bench", commit, None, versions, {"cpu_model": cpu})

    before = context("abc", {"channels": "4.3.2", "redis": "8.1.0"}, "AMD EPYC")
    after = context("abc", {"channels": "4.1.0"}, "Intel Xeon")
    assert history.changed(before, after) == [
        "channels 4.3.2 -> 4.1.0",
        "cpu_model AMD EPYC -> Intel Xeon",
    ]
    same = history.changed(before, before)
    assert same == ["nothing recorded changed (same commit, versions and machine)"]


def test_what_cannot_be_read_or_placed_is_listed_not_dropped(stepped: Path) -> None:
    (stepped / "20260109T10Z").mkdir()
    (stepped / "20260109T10Z" / "data.json").write_text("{half", encoding="utf-8")
    odd = run_data("20260110T10Z", {"async": 4000})
    del odd["throughput"][0]["server"]  # a row this version cannot read
    publish(stepped, odd)
    zero = run_data("20260111T10Z", {"sync": 2000, "async": 4000})
    zero["throughput"][0]["p99_ms"] = 0.0
    zero["handshake"] = [{"server": "daphne", "flavour": "async", "handshakes_per_s": -1.0}]
    publish(stepped, zero)
    found = history.collect(stepped)
    assert [c.run_id for c in found.contexts][-1] == "20260111T10Z"
    assert len(found.contexts) == 7
    assert [line.split(":")[0] for line in found.left_out] == [
        "20260109T10Z",
        "20260110T10Z",
        "20260111T10Z handshakes daphne async c=None",
    ]
    assert "cannot read" in found.left_out[1]
    assert len(series(found, "p99", "daphne sync c=50 32B-text").points) == 6  # no p99 there


def test_the_committed_runs_name_the_async_consumer_step_of_channels_4_1_0() -> None:
    found = history.collect(RESULTS_DIR)
    moved = series(found, "throughput", "uvicorn async c=50 32B-text")
    older = "channels 4.1.0, daphne 4.2.3, uvicorn 0.54.0"
    # Both published versions runs (measured a week apart) name the step at that stack.
    at = {c.point.context.run_id: c for c in moved.changes if c.point.context.stack == older}
    expected = {
        "20261130T021756Z-vm": (5825.5, 16106.7),
        "20261207T222754Z-vm": (10499.4, 23965.2),
    }
    assert set(at) == set(expected)
    for run_id, (before, after) in expected.items():
        step = at[run_id]
        assert step.changed == ["channels 4.3.2 -> 4.1.0"]
        assert (step.previous.value, step.point.value) == (before, after)
        assert step.previous.context.stack == "channels 4.3.2, daphne 4.2.3, uvicorn 0.54.0"
    assert {s.headline.key for s in found.series} >= {
        "sync-vs-async",
        "throughput",
        "p99",
        "handshakes",
        "conformance",
    }
    full_runs = {c.run_id for c in found.contexts if c.kind == "all"}
    assert all(
        full_runs <= {p.context.run_id for p in s.points}
        for s in found.series
        if s.headline.key == "throughput" and s.cell.endswith("c=50 32B-text")
    )


def test_the_command_prints_every_series_and_names_the_change(
    stepped: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plots = tmp_path / "plots"
    assert main(["history", str(stepped), "--plots", str(plots)]) == 0
    out = capsys.readouterr().out
    assert "Throughput of the headline cell" in out and "Sync vs Async" in out
    assert "3,980 -> 6,000 (+51%)" in out
    assert "commit 20260103ab -> 20260104ab" in out
    assert sorted(p.name for p in plots.glob("*.svg")) == [
        "p99.svg",
        "sync-vs-async.svg",
        "throughput.svg",
    ]
    assert main(["history", str(stepped), "--cell", "daphne sync"]) == 0
    out = capsys.readouterr().out
    assert "daphne sync c=50" in out and "daphne async c=50" not in out
    assert "No change points" in out


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["no-such-folder"], "is not a folder"),
        (["{empty}"], "holds no run"),
        (["{empty}", "--last", "0"], "--last takes"),
    ],
)
def test_unusable_input_exits_2_with_one_line(
    args: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a.replace("{empty}", str(tmp_path)) for a in args]
    if "no-such-folder" in argv:
        argv = [str(tmp_path / "no-such-folder")]
    assert main(["history", *argv]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
