"""Scaling: a fleet of server processes on the Redis layer, the closed loop
spread over all of them, one row per fleet and flavour."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from channels_harness.experiments.scaling import growth_notes
from channels_harness.generators.engine import LoadConfig
from channels_harness.generators.engine.spread import run_spread, spread
from channels_harness.report.rows import ScalingRow
from channels_harness.servers.fleet import Fleet
from channels_harness.servers.redis import layer_env
from channels_harness.servers.registry import get_spec


def started_echo_consumers(http_url: str) -> int:
    with urllib.request.urlopen(http_url, timeout=5) as reply:
        return int(json.load(reply)["started"].get("AsyncEchoConsumer", 0))


def test_the_load_is_spread_over_every_process_of_the_fleet(redis_url: str) -> None:
    with Fleet(get_spec("daphne"), 3, layer_env("redis", redis_url)) as fleet:
        urls = fleet.urls("ws/echo/async/")
        assert len(set(urls)) == 3
        base = LoadConfig(url=urls[0], connections=6, duration_s=0.5, warmup_s=0.1)
        result = run_spread(spread(base, urls, 3))
        assert result.connected == 6 and result.errors == 0 and result.measured > 0
        counts = [started_echo_consumers(s.http_url("stats/")) for s in fleet.members]
    assert counts == [2, 2, 2]


def test_growth_is_n_processes_over_one_per_pinning() -> None:
    rows = [
        ScalingRow(pinning="p", server="s", layer="l", flavour="f", processes=1, msgs_per_s=100.0),
        ScalingRow(pinning="p", server="s", layer="l", flavour="f", processes=2, msgs_per_s=150.0),
    ]
    assert growth_notes(rows) == [
        "Scaling (p): msgs/s with N server processes over 1 process: s f x2: 1.5x"
    ]


def test_scaling_command_writes_rows(
    tmp_path: Path,
    redis_url: str,
    command: Callable[[list[str]], int],
    run_data: Callable[[Path], dict[str, Any]],
) -> None:
    code = command(
        [
            "scaling",
            "--servers=uvicorn",
            "--flavours=async",
            "--processes=1,2",
            "--pinnings=server core",
            "--runs=1",
            "--duration=1",
            "--connections=8",
            f"--redis-url={redis_url}",
            f"--results={tmp_path}",
        ]
    )
    assert code == 0
    data = run_data(tmp_path)
    assert data["kind"] == "scaling" and data["status"] == "complete"
    rows = data["scaling"]
    assert [(r["server"], r["processes"], r["layer"]) for r in rows] == [
        ("uvicorn", 1, "redis"),
        ("uvicorn", 2, "redis"),
    ]
    for row in rows:
        assert row["msgs_per_s"] > 0 and row["errors"] == 0
        assert row["pinning"] == "server core" and row["runs"] == 1
        assert isinstance(row["generator_bound"], bool)
    assert any(n.startswith("Scaling (server core)") for n in data["notes"])


def test_bench_presets_size_the_fanout_and_scaling_steps() -> None:
    from channels_harness.experiments.bench.extra import plans

    assert plans("quick", ("daphne", "uvicorn")) == (None, None)
    fanout, scaling = plans("standard", ("uvicorn", "hypercorn"))
    assert fanout is not None and scaling is not None
    assert fanout.servers == ("uvicorn",) and set(fanout.layers) == {"memory", "redis"}
    assert scaling.pinnings == ("server core",)
    fanout, scaling = plans("full", ("daphne", "uvicorn", "hypercorn"))
    assert fanout is not None and len(fanout.layers) == 3
    assert scaling is not None and scaling.servers == ("daphne", "uvicorn", "hypercorn")
