"""The fan-out benchmark: every member of a room receives every timestamped
broadcast through the channel layer, and the rows say how fast and how late."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from channels_harness.errors import TargetRefusedError
from channels_harness.experiments.fanout import (
    FanoutPlan,
    measure_once,
    redis_cost_notes,
    run_fanout,
)
from channels_harness.report.model import Run
from channels_harness.report.rows import FanoutRow
from channels_harness.servers.process import serving


def test_every_member_gets_every_broadcast_with_its_latency() -> None:
    plan = FanoutPlan(runs=1)
    with serving("uvicorn") as server:
        outcome = measure_once(server.ws_url("ws/room/fanexact/async/"), 7, 12, plan, None)
    assert outcome.connected == 7
    assert outcome.sent == 12
    assert outcome.delivered == 7 * 12
    assert outcome.lost == 0
    assert outcome.errors == 0
    assert outcome.wall_s > 0


def test_fanout_rows_on_memory_and_redis_with_the_redis_cost_note(
    tmp_path: Path, redis_url: str
) -> None:
    run = Run.create(tmp_path, kind="fanout")
    plan = FanoutPlan(
        layers=("memory", "redis"),
        servers=("daphne",),
        flavours=("async",),
        group_sizes=(1, 10),
        messages={1: 20, 10: 10},
        runs=2,
        redis_url=redis_url,
    )
    rows = run_fanout(run, plan)
    assert run.data["failures"] == []
    assert [(r.layer, r.group_size) for r in rows] == [
        ("memory", 1),
        ("memory", 10),
        ("redis", 1),
        ("redis", 10),
    ]
    for row in rows:
        assert row.delivered == row.group_size * row.messages * 2
        assert row.lost == 0
        assert row.runs == 2
        assert row.deliveries_per_s > 0
        assert 0 < row.p50_ms <= row.p99_ms <= row.max_ms
        assert isinstance(row.generator_bound, bool)
    notes = run.data["notes"]
    assert any(n.startswith("Fan-out cost of the redis layer") for n in notes)
    assert Run.load(run.path).data["fanout"] == [row.to_json() for row in rows]


def test_redis_cost_is_memory_over_redis_for_the_same_cell() -> None:
    rows = [
        FanoutRow(layer="memory", server="s", flavour="f", group_size=10, deliveries_per_s=900),
        FanoutRow(layer="redis", server="s", flavour="f", group_size=10, deliveries_per_s=300),
        FanoutRow(layer="redis", server="s", flavour="f", group_size=99, deliveries_per_s=5),
    ]
    (note,) = redis_cost_notes(rows)
    assert "s f x10: 3.0x" in note
    assert "x99" not in note


def test_fanout_command_writes_a_run(
    tmp_path: Path, command: Callable[[list[str]], int], run_data: Callable[[Path], dict[str, Any]]
) -> None:
    code = command(
        [
            "fanout",
            "--layers=memory",
            "--servers=uvicorn",
            "--flavours=sync",
            "--sizes=3",
            "--messages=5",
            "--runs=1",
            f"--results={tmp_path}",
        ]
    )
    assert code == 0
    data = run_data(tmp_path)
    assert data["kind"] == "fanout" and data["status"] == "complete"
    (row,) = data["fanout"]
    assert (row["layer"], row["server"], row["flavour"], row["group_size"]) == (
        "memory",
        "uvicorn",
        "sync",
        3,
    )
    assert row["delivered"] == 15


@pytest.mark.parametrize("name", ["fanout", "scaling", "soak", "limits"])
def test_commands_refuse_a_remote_host_without_the_option(
    name: str, tmp_path: Path, command: Callable[[list[str]], int]
) -> None:
    with pytest.raises(TargetRefusedError, match="--allow-remote-target"):
        command([name, "--host=192.0.2.10", f"--results={tmp_path}"])
    assert not list(tmp_path.iterdir())
