"""Capacity against real servers: the paced climb holds connections from
several source addresses, names the limit the server reached (its descriptors,
its death, its silence, the memory budget), says how the server met it and
whether it recovered; bursts show what a full listen queue costs."""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import signal
import subprocess
from pathlib import Path

import pytest

from channels_harness.cli import build_parser
from channels_harness.errors import GeneratorError, UsageError
from channels_harness.experiments.capacity.burst import bursts
from channels_harness.experiments.capacity.climb import climb
from channels_harness.experiments.capacity.plan import CapacityPlan
from channels_harness.generators.engine.hold import MODULE, HoldConfig
from channels_harness.generators.session import GeneratorSession
from channels_harness.report.schema import validate
from channels_harness.runtime import procgroup
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import ServerProcess, serving
from channels_harness.servers.registry import get_spec
from channels_harness.testing.plugin import require_or_skip

pytestmark = pytest.mark.slow

# Small bounds so a stuck server fails a test in seconds, not minutes.
SMALL = CapacityPlan(
    max_connections=300,
    step=100,
    bursts=(),
    connect_timeout_s=3.0,
    ping_timeout_s=3.0,
    canary_timeout_s=2.0,
    recovery_wait_s=10.0,
    probe_connections=10,
    settle_s=0.5,
    budget_s=120.0,
)


def command(argv: list[str]) -> int:
    """Run one subcommand in this process, without the CLI's last-resort stop_all
    (which would also stop the session's Redis server)."""
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


def test_limits_holds_the_maximum_on_each_server_and_measures_every_level(
    tmp_path: Path, redis_url: str
) -> None:
    groups_before = procgroup.live()
    code = command(
        [
            "limits",
            "--servers=daphne,uvicorn",
            "--max=300",
            "--step=150",
            "--bursts=50",
            f"--redis-url={redis_url}",
            f"--results={tmp_path}",
        ]
    )
    assert code == 0
    assert procgroup.live() == groups_before  # no generator or server left behind
    (data_file,) = tmp_path.glob("*/data.json")
    data = json.loads(data_file.read_text())
    validate(data)
    assert data["kind"] == "limits" and data["status"] == "complete"
    assert data["options"]["kernel"]["net.core.somaxconn"]
    assert [row["server"] for row in data["limits"]] == ["daphne", "uvicorn"]
    for row in data["limits"]:
        assert (row["connections_held"], row["limit_kind"], row["limit_side"]) == (
            300,
            "target",
            "experiment",
        )
        assert row["layer"] == "redis" and row["bytes_per_connection"] > 0
        assert row["live_consumers_at_end"] == 300 + SMALL.canaries
    points = [p for p in data["capacity"] if p["server"] == "uvicorn"]
    assert [p["level"] for p in points] == [0, 150, 300]
    assert all(p["ping_answered"] == p["connections"] for p in points)
    assert all(p["canary_p50_ms"] is not None and p["rss_bytes"] for p in points)
    for at_limit in data["at_limit"]:
        assert at_limit["behaviour"] == "no server limit reached"
        assert at_limit["recovered"] is True and at_limit["live_consumers_after_close"] == 0
    assert [(b["server"], b["size"], b["opened"]) for b in data["burst"]] == [
        ("daphne", 50, 50),
        ("uvicorn", 50, 50),
    ]
    assert {b["listen_backlog"] for b in data["burst"]} == {50, 2048}


def test_held_connections_come_from_several_source_addresses_and_processes() -> None:
    plan = dataclasses.replace(
        SMALL, max_connections=120, step=120, sources=3, generator_processes=2
    )
    seen: set[str] = set()
    with serving("uvicorn") as server:

        def peers(text: str) -> None:
            if "held" in text and "opening" not in text:
                for proc in server.processes():
                    seen.update(c.raddr.ip for c in proc.net_connections() if c.raddr)

        outcome = climb(server, plan, peers)
    assert outcome.summary.connections_held == 120
    assert outcome.summary.generator_processes == 2
    assert {"127.0.0.2", "127.0.0.3", "127.0.0.4"} <= seen
    (_idle, level) = outcome.points
    assert level.ping_answered == 120 and level.canary_errors == 0


@pytest.mark.parametrize("name", ["uvicorn", "hypercorn"])
def test_the_climb_stops_at_the_servers_file_descriptor_limit(name: str) -> None:
    """uvicorn is one process; hypercorn's connections live in a worker process beside
    a supervisor that holds none (its limit must not count as room for connections)."""
    with serving(name) as server:
        for proc in server.processes():
            resource.prlimit(proc.pid, resource.RLIMIT_NOFILE, (250, 250))
        outcome = climb(server, SMALL, lambda text: None)
    row, at_limit = outcome.summary, outcome.at_limit
    assert (row.limit_kind, row.limit_side) == ("fd-limit", "server"), row.limit_reason
    assert 150 <= row.connections_held < 250
    assert row.server_nofile == 250
    assert at_limit.server_alive and at_limit.new_opened < at_limit.new_attempts
    assert at_limit.behaviour in ("refuses cleanly", "refuses some", "stops accepting")
    assert at_limit.recovered is True and at_limit.live_consumers_after_close == 0


def test_a_server_killed_mid_climb_is_named_dead_and_not_recovered() -> None:
    with serving("daphne") as server:

        def kill_at_first_level(text: str) -> None:
            if "held" in text and "opening" not in text and server.pid is not None:
                os.killpg(server.pid, signal.SIGKILL)
                server.popen.wait() if server.popen else None

        outcome = climb(server, SMALL, kill_at_first_level)
    assert outcome.summary.limit_kind == "died", outcome.summary.limit_reason
    assert outcome.at_limit.behaviour == "dies"
    assert outcome.at_limit.recovered is False


def test_a_frozen_server_is_unresponsive_and_stalls() -> None:
    plan = dataclasses.replace(SMALL, recovery_wait_s=3.0)
    server = ServerProcess(get_spec("uvicorn")).start()
    try:

        def freeze_after_first_level(text: str) -> None:
            if "held" in text and "opening" not in text and server.pid is not None:
                os.kill(server.pid, signal.SIGSTOP)

        outcome = climb(server, plan, freeze_after_first_level)
    finally:
        if server.pid is not None:
            os.kill(server.pid, signal.SIGCONT)
        server.stop()
    assert outcome.summary.limit_kind == "unresponsive", outcome.summary.limit_reason
    assert outcome.summary.connections_held == 100
    assert outcome.at_limit.behaviour == "stalls"
    assert outcome.at_limit.recovered is False


def test_the_memory_budget_is_the_machines_limit_and_the_server_keeps_accepting() -> None:
    with serving("uvicorn") as server:
        outcome = climb(server, SMALL, lambda text: None, memory_budget=1)
    assert (outcome.summary.limit_kind, outcome.summary.limit_side) == ("memory", "machine")
    assert outcome.summary.connections_held == 100
    assert outcome.at_limit.behaviour == "keeps accepting"


@pytest.mark.parametrize("name", ["daphne", "uvicorn", "hypercorn", "granian"])
def test_each_server_listens_with_the_backlog_it_is_given(name: str) -> None:
    spec = get_spec(name)
    if not spec.available():
        require_or_skip(name, "is not installed (pip install '.[servers]')")
    with ServerProcess(spec.with_backlog(300)) as server:
        out = subprocess.run(
            ["ss", "-Hlnt", f"sport = :{server.port}"], capture_output=True, text=True, check=True
        ).stdout.split()
    assert int(out[2]) == 300


def test_a_burst_over_a_tiny_backlog_retransmits_and_a_big_backlog_does_not() -> None:
    plan = dataclasses.replace(SMALL, bursts=(300,), burst_timeout_s=10.0)
    rows = {}
    for backlog in (1, 4096):
        with ServerProcess(get_spec("uvicorn").with_backlog(backlog)) as server:
            (rows[backlog],) = bursts(server, plan, lambda text: None)
    tiny, big = rows[1], rows[4096]
    assert tiny.listen_backlog_effective == 1 and big.listen_backlog_effective == 4096
    # A full listen queue drops SYNs: clients retransmit (after 1 s, 3 s, ...) or give up.
    assert tiny.retransmitted > 0 and tiny.verdict in ("retransmits", "handshakes failed")
    assert (big.opened, big.retransmitted) == (300, 0)


@pytest.mark.parametrize(
    "option",
    [
        "--bursts=ten",
        "--max=0",
        "--layer=postgres",
        "--flavour=nope",
        "--backlog=0",
        "--generator-processes=0",
    ],
)
def test_bad_options_are_one_clear_error(option: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        command(["limits", "--servers=uvicorn", option, f"--results={tmp_path}"])
    assert not list(tmp_path.iterdir())


def test_no_generator_outlives_a_climb_on_a_server_that_is_gone() -> None:
    groups_before = procgroup.live()
    with serving("uvicorn") as server:
        server.stop()
        outcome = climb(server, SMALL, lambda text: None)
    assert outcome.summary.limit_kind == "died"
    assert outcome.summary.connections_held == 0
    assert procgroup.live() == groups_before


def test_a_generator_that_fails_is_one_clear_error_and_leaves_nothing_behind() -> None:
    groups_before = procgroup.live()
    config = HoldConfig(url="ws://127.0.0.1:9/", canary_url="ws://127.0.0.1:9/")
    with (
        GeneratorSession(MODULE, config.to_json(), None) as session,
        pytest.raises(GeneratorError, match=r"(?s)exited .* during 'bogus'.*unknown command"),
    ):
        session.call({"op": "bogus"}, timeout_s=scaled(30))
    assert procgroup.live() == groups_before
