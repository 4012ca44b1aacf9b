"""Noise evidence and the server's CPU over a window: /proc parsed right, other
processes' load told apart from ours, real processes' CPU counted."""

from __future__ import annotations

import sys
import time

import _spawn

from channels_harness.runtime import noise
from channels_harness.runtime.cpu import ProcessesCpu

PROC_STAT = """cpu  476527 187 67928 248945 981 0 12832 1622 0 0
cpu0 249184 88 31165 116643 204 0 6935 778 0 0
cpu1 227343 99 36762 132302 776 0 5897 843 0 0
intr 7392746 0 0
"""
PRESSURE = """some avg10=99.96 avg60=99.68 avg300=92.81 total=1942931701
full avg10=0.00 avg60=0.00 avg300=0.00 total=0
"""


def test_proc_stat_gives_task_and_steal_time_per_core() -> None:
    busy, steal = noise._read_stat(PROC_STAT)
    tick = noise.TICK_S
    assert busy == [(249184 + 88 + 31165) * tick, (227343 + 99 + 36762) * tick]
    assert steal == [778 * tick, 843 * tick]


def test_pressure_gives_the_seconds_some_task_waited() -> None:
    assert noise._read_pressure(PRESSURE) == 1942.931701
    assert noise._read_pressure("") is None


def test_other_load_is_what_the_cores_ran_beyond_server_and_generator() -> None:
    # 2 s window; core 0 (server) ran 1.9 s, the server used 1.0 s; core 1 (generator)
    # ran 0.8 s, the generator used 0.75 s; 0.1 s stolen from core 1
    window = noise.Window(wall_s=2.0, busy_s=[1.9, 0.8], steal_s=[0.0, 0.1], pressure_s=0.5)
    found = noise.evidence(window, {0}, {1}, server_cpu_s=1.0, generator_cpu_s=0.75)
    assert found.server_cores_other_pct == 45.0
    assert found.generator_cores_other_pct == 2.5
    assert found.steal_pct == 5.0
    assert found.cpu_pressure_pct == 25.0
    assert found.noisy and found.noisy_runs == 1
    assert found.reasons() == ["CPU steal 5%", "other load on the server core(s) 45%"]


def test_a_quiet_window_is_not_noisy_and_unpinned_cores_are_shared() -> None:
    window = noise.Window(wall_s=1.0, busy_s=[0.62, 0.5], steal_s=[0.0, 0.0])
    found = noise.evidence(window, None, None, server_cpu_s=0.6, generator_cpu_s=0.5)
    assert found.server_cores_other_pct == found.generator_cores_other_pct == 2.0
    assert not found.noisy and found.reasons() == []


def test_the_worst_of_a_cells_runs_is_kept() -> None:
    quiet = noise.Noise(steal_pct=0.0, server_cores_other_pct=1.0, generator_cores_other_pct=3.0)
    busy = noise.Noise(
        steal_pct=1.0, server_cores_other_pct=30.0, generator_cores_other_pct=2.0, noisy=True
    )
    busy.noisy_runs = 1
    worst = noise.worst([quiet, busy, quiet])
    assert worst is not None
    assert (worst.server_cores_other_pct, worst.generator_cores_other_pct) == (30.0, 3.0)
    assert worst.noisy and (worst.runs, worst.noisy_runs) == (3, 1)
    assert noise.worst([]) is None


def test_a_real_window_reads_every_core_and_runs_forward() -> None:
    start = noise.Snapshot.take()
    time.sleep(0.2)
    window = noise.Snapshot.take().since(start)
    assert 0.15 < window.wall_s < 5
    assert len(window.busy_s) >= 1
    assert all(value >= 0 for value in window.busy_s + window.steal_s)
    assert noise.Window.from_json(window.to_json()) == window


def test_processes_cpu_counts_a_busy_process_and_not_a_sleeping_one() -> None:
    with (
        _spawn.started([sys.executable, "-c", "while True: pass"]) as busy,
        _spawn.started([sys.executable, "-c", "import time; time.sleep(30)"]) as idle,
    ):
        time.sleep(0.3)  # both started
        busy_cpu, idle_cpu = ProcessesCpu([busy.pid]), ProcessesCpu([idle.pid])
        time.sleep(1.0)
        assert busy_cpu.seconds() > 0.1  # even on a crowded machine it gets a share
        assert idle_cpu.seconds() < 0.05
