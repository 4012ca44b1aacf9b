"""The measurement engine against real servers on loopback.

Closed loop, open loop and handshakes run in real generator subprocesses
(:func:`run_load`) against the raw picows echo server and against uvicorn
serving the reference Channels app. No timing thresholds: the assertions are
counts, and lower bounds that follow from what the server was told to do.
"""

from __future__ import annotations

import psutil
import pytest
import uvloop

from channels_harness.errors import GeneratorError
from channels_harness.generators.engine import LoadConfig, hold_idle, run_load
from channels_harness.servers.process import ServerProcess, free_port


def generator_processes() -> list[psutil.Process]:
    """Generator workers still alive under this test process."""
    return [
        child
        for child in psutil.Process().children(recursive=True)
        if "channels_harness.generators.engine.worker" in " ".join(child.cmdline())
    ]


def test_closed_loop_receives_every_message_it_sent_across_two_processes(
    raw_echo: ServerProcess,
) -> None:
    config = LoadConfig(url=raw_echo.ws_url("/"), connections=7, messages=200, duration_s=30)
    result = run_load(config, processes=2)
    assert result.processes == 2
    assert [w.connections for w in result.workers] == [4, 3]
    assert result.connected == 7
    assert result.sent == result.received == result.measured == 7 * 200
    assert result.errors == 0
    assert result.histogram.get_total_count() == 7 * 200
    assert result.rate > 0
    assert all(share >= 0 for share in result.cpu_per_process)
    assert generator_processes() == []


@pytest.mark.parametrize("label", ["32B-text", "4KiB-bytes", "64KiB-bytes"])
def test_closed_loop_through_channels_echoes_each_payload_whole(
    uvicorn: ServerProcess, label: str
) -> None:
    config = LoadConfig(
        url=uvicorn.ws_url("ws/echo/async/"),
        connections=3,
        payload=label,
        messages=20,
        duration_s=30,
    )
    result = run_load(config)
    # a reply of the wrong size would count as an error
    assert (result.sent, result.received, result.errors) == (60, 60, 0)


def test_a_timed_closed_loop_counts_only_its_window_and_drains_the_rest(
    raw_echo: ServerProcess,
) -> None:
    config = LoadConfig(url=raw_echo.ws_url("/"), connections=5, duration_s=0.5, warmup_s=0.2)
    result = run_load(config)
    assert result.errors == 0
    assert result.sent == result.received
    assert 0 < result.measured < result.sent
    assert result.workers[0].window_s > 0
    assert result.describe()["generator_processes"] == 1


def test_open_loop_sends_exactly_its_schedule_when_far_below_capacity(
    raw_echo: ServerProcess,
) -> None:
    config = LoadConfig(
        url=raw_echo.ws_url("/"),
        mode="open",
        rate=200,
        connections=4,
        duration_s=1.0,
        warmup_s=0.25,
    )
    result = run_load(config)
    assert result.sent == result.received == 50 + 200
    assert result.measured == 200
    assert result.errors == 0
    assert result.target_rate == 200
    assert result.achieved_rate > 0


def test_open_loop_latency_runs_from_the_intended_send_time(uvicorn: ServerProcess) -> None:
    """20 messages due 50 ms apart on one AsyncConsumer that awaits 100 ms per
    message (one at a time): message k cannot be answered before (k + 1) * 100 ms,
    so its latency from its intended time is at least 100 + 50 k ms. A client
    timing from the actual send (after the previous reply) would see ~100 ms."""
    config = LoadConfig(
        url=uvicorn.ws_url("ws/echo/async/?await_ms=100"),
        mode="open",
        rate=20,
        connections=1,
        duration_s=1.0,
        warmup_s=0.0,
    )
    result = run_load(config)
    summary = result.summary
    assert result.errors == 0
    assert summary.count == 20
    assert summary.max_ms >= 100 + 50 * 19 - 1
    assert summary.p50_ms >= 100 + 50 * 9 - 1


def test_errors_are_counted_against_a_dead_port_and_nothing_is_left() -> None:
    url = f"ws://127.0.0.1:{free_port()}/"
    closed = run_load(LoadConfig(url=url, connections=5, duration_s=0.5, connect_timeout_s=2))
    assert closed.connected == 0
    assert closed.errors == 5
    assert closed.sent == closed.measured == 0
    churn = run_load(LoadConfig(url=url, mode="handshake", connections=2, duration_s=0.3))
    assert churn.errors > 0
    assert churn.measured == 0
    assert generator_processes() == []


def test_handshakes_complete_connect_accept_close_cycles(uvicorn: ServerProcess) -> None:
    config = LoadConfig(
        url=uvicorn.ws_url("ws/echo/sync/"),
        mode="handshake",
        connections=2,
        messages=5,
        duration_s=30,
    )
    result = run_load(config)
    assert (result.measured, result.errors) == (10, 0)
    assert result.histogram.get_total_count() == 10


def test_a_generator_that_crashes_raises_and_leaves_no_process(raw_echo: ServerProcess) -> None:
    config = LoadConfig(url=raw_echo.ws_url("/"), payload="not-a-payload", duration_s=0.5)
    with pytest.raises(GeneratorError, match="not-a-payload"):
        run_load(config, processes=2)
    assert generator_processes() == []


def test_idle_connections_are_all_open_while_the_sample_runs(raw_echo: ServerProcess) -> None:
    seen: list[int] = []

    def sample() -> int:
        connections = [
            c
            for c in psutil.Process().net_connections("tcp")
            if c.raddr and c.raddr.port == raw_echo.port
        ]
        seen.append(len(connections))
        return len(connections)

    outcome = uvloop.run(hold_idle(raw_echo.ws_url("/"), 120, sample, settle_s=0.0))
    assert (outcome.opened, outcome.errors) == (120, 0)
    assert outcome.value == seen[0] == 120
