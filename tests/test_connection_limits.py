"""Concurrency limits: the climb holds idle connections step by step, stops at
the first step the server cannot take, and says why."""

from __future__ import annotations

import asyncio
import json
import resource
from pathlib import Path

from channels_harness.cli import build_parser
from channels_harness.experiments.limits import LimitsPlan, climb
from channels_harness.servers.process import serving


def command(argv: list[str]) -> int:
    """Run one subcommand in this process, without the CLI's last-resort stop_all
    (which would also stop the session's Redis server)."""
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


def test_limits_command_holds_the_small_maximum_on_each_server(tmp_path: Path) -> None:
    code = command(
        ["limits", "--servers=daphne,uvicorn", "--max=300", "--step=150", f"--results={tmp_path}"]
    )
    assert code == 0
    (data_file,) = tmp_path.glob("*/data.json")
    data = json.loads(data_file.read_text())
    assert data["kind"] == "limits" and data["status"] == "complete"
    assert [row["server"] for row in data["limits"]] == ["daphne", "uvicorn"]
    for row in data["limits"]:
        assert row["connections_held"] == 300
        assert row["connections_target"] == 300
        assert row["limit_reason"] == "reached the maximum asked (300)"
        assert row["bytes_per_connection"] > 0
        assert row["live_consumers_at_end"] == 300


def test_the_climb_stops_at_the_servers_file_descriptor_limit() -> None:
    plan = LimitsPlan(max_connections=400, step=100, connect_timeout_s=3.0, settle_s=0.5)
    with serving("uvicorn") as server:
        assert server.pid is not None
        resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (250, 250))
        row = asyncio.run(climb(server, plan, lambda text: None))
    assert 100 <= row.connections_held < 300
    assert row.limit_reason.startswith(("handshakes failed", "the server dropped", "server died"))
