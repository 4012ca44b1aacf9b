"""Hostile clients against every server: each survives, still echoes, leaks nothing.

Every attack of :mod:`channels_harness.experiments.attacks` runs against every server with
the small settings (300-connection flood, 2 s holds). What a server really
fails is recorded once in channels_harness/experiments/attacks/known.toml, with its
failure mode; it is an expected failure here only while the server fails in
exactly that way (passing, or failing otherwise, turns the test red).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import psutil
import pytest

from channels_harness.experiments.attacks.base import SMALL
from channels_harness.experiments.attacks.run import (
    ATTACKS,
    FAILURE_MODES,
    attack_server,
    failures,
    known,
    run_attacks,
)
from channels_harness.report.model import Run
from channels_harness.report.rows import AttackRow
from channels_harness.report.schema import validate
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.pool import ServerPool
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.registry import SERVERS, get_spec

KNOWN = known()


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_the_server_survives_the_attack_and_releases_every_consumer(
    server_pool: ServerPool, server_name: str, attack: str
) -> None:
    row = attack_server(server_pool.get(server_name), attack, SMALL)
    found = failures(row)
    entry = KNOWN.get((server_name, attack))
    if entry is None:
        assert not found, f"{sorted(found)}: {row.outcome}; {row.detail}"
        return
    assert entry.matches(found), (
        f"known.toml records {sorted(entry.failure)}, now {sorted(found) or 'no failure'}: "
        f"{row.outcome}; {row.detail}"
    )
    pytest.xfail(f"{entry.observed} ({entry.reason})")


def test_the_known_failures_name_real_servers_and_attacks() -> None:
    for server, attack in KNOWN:
        assert server in SERVERS
        assert attack in ATTACKS


def test_a_known_failure_entry_covers_each_of_its_servers(tmp_path: Path) -> None:
    entry = (
        '[[known]]\nattack = "flood"\nservers = ["daphne", "granian"]\nfailure = "canary"\n'
        'observed = "canary timed out"\nreason = "no accept backlog"\n'
    )
    (tmp_path / "known.toml").write_text(entry)
    table = known(tmp_path / "known.toml")
    assert set(table) == {("daphne", "flood"), ("granian", "flood")}
    assert table["granian", "flood"].observed == "canary timed out"
    assert table["granian", "flood"].failure == {"canary"}
    (tmp_path / "bad.toml").write_text(entry.replace('"flood"', '"flod"'))
    with pytest.raises(ValueError, match="unknown attack 'flod'"):
        known(tmp_path / "bad.toml")


@pytest.mark.parametrize(
    "failure", ["", "failure = []\n", 'failure = "crashed"\n', 'failure = ["canary", "x"]\n']
)
def test_a_known_failure_without_a_real_failure_mode_is_refused(
    tmp_path: Path, failure: str
) -> None:
    (tmp_path / "known.toml").write_text(
        f'[[known]]\nattack = "flood"\nservers = ["daphne"]\n{failure}'
        'observed = "o"\nreason = "r"\n'
    )
    with pytest.raises(ValueError, match="failure is one or more of died, canary, leak, stats"):
        known(tmp_path / "known.toml")


def row(**fields: Any) -> AttackRow:
    values: dict[str, Any] = {
        "server": "daphne",
        "attack": "flood",
        "outcome": "300/300 accepted in 1.0 s",
        "canary_ok": True,
        "leaked_consumers": 0,
    }
    return AttackRow(**{**values, **fields})


@pytest.mark.parametrize(
    ("fields", "measured", "found"),
    [
        ({}, True, set()),
        ({"canary_ok": False}, True, {"canary"}),
        ({"leaked_consumers": 3}, True, {"leak"}),
        ({"canary_ok": False, "leaked_consumers": 3}, True, {"canary", "leak"}),
        ({"leaked_consumers": None}, True, {"stats"}),
        ({"leaked_consumers": None}, False, set()),
        ({"leaked_consumers": 3}, False, set()),
        ({"outcome": "server died", "canary_ok": False, "leaked_consumers": None}, True, {"died"}),
    ],
)
def test_the_failure_modes_of_a_row(
    fields: dict[str, Any], measured: bool, found: set[str]
) -> None:
    assert failures(row(**fields), measured) == found
    assert found <= set(FAILURE_MODES)


def test_a_known_failure_holds_only_for_its_own_failure_mode(tmp_path: Path) -> None:
    (tmp_path / "known.toml").write_text(
        '[[known]]\nattack = "flood"\nservers = ["daphne"]\nfailure = ["leak"]\n'
        'observed = "o"\nreason = "r"\n'
    )
    entry = known(tmp_path / "known.toml")["daphne", "flood"]
    assert entry.matches(failures(row(leaked_consumers=2)))
    assert not entry.matches(failures(row(canary_ok=False)))
    assert not entry.matches(failures(row(canary_ok=False, leaked_consumers=2)))
    assert not entry.matches(failures(row()))


def test_a_killed_server_is_a_row_with_its_log_tail() -> None:
    with ServerProcess(get_spec("uvicorn")) as server:
        assert server.popen is not None
        os.kill(server.popen.pid, signal.SIGKILL)
        server.popen.wait(timeout=scaled(10))
        row = attack_server(server, "missing-key", SMALL)
    assert row.outcome == "server died"
    assert row.canary_ok is False
    assert "log tail" in row.detail


def uvicorn_children() -> set[int]:
    return {
        child.pid
        for child in psutil.Process().children(recursive=True)
        if "uvicorn" in " ".join(child.cmdline())
    }


def test_run_attacks_gives_the_next_attack_a_fresh_server_after_one_died(tmp_path: Path) -> None:
    run = Run.create(tmp_path, kind="attack")
    before = uvicorn_children()  # servers of other tests in this process
    seen: list[tuple[str, int, int]] = []
    timers: list[threading.Timer] = []

    def kill_during_the_second(description: str, done: int, total: int) -> None:
        seen.append((description, done, total))
        if done == 1:  # the idle-tcp attack holds its connections for 4 s
            (pid,) = uvicorn_children() - before
            timers.append(threading.Timer(scaled(1.0), os.kill, (pid, signal.SIGKILL)))
            timers[-1].start()

    rows = run_attacks(
        run,
        servers=["uvicorn"],
        attacks=["missing-key", "idle-tcp", "post-method"],
        progress=kill_during_the_second,
        settings=dataclasses.replace(SMALL, hold_s=4.0),
    )
    for timer in timers:
        timer.join()
    assert [row.outcome for row in rows][1] == "server died", rows[1]
    assert "log tail" in rows[1].detail
    assert rows[0].canary_ok and rows[2].canary_ok
    assert rows[2].leaked_consumers == 0
    assert seen[-1] == ("done", 3, 3)
    data = json.loads(run.data_file.read_text())
    assert data["attacks"] == [row.to_json() for row in rows]
    assert "uvicorn" in data["servers"]
    assert uvicorn_children() == before


def test_the_attack_command_writes_a_run_and_prints_the_table(
    tmp_path: Path, cli: Callable[..., CompletedProcess[str]], run_data: Callable[[Path], Any]
) -> None:
    done = cli(
        "attack",
        "--servers=daphne",
        "--attacks=missing-key,flood",
        "--quick",
        "--flood=50",
        f"--results={tmp_path}",
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    data = run_data(tmp_path)
    validate(data)
    assert data["kind"] == "attack" and data["status"] == "complete"
    assert [row["attack"] for row in data["attacks"]] == ["missing-key", "flood"]
    assert data["attacks"][1]["outcome"].startswith("50/50 accepted")
    assert data["options"]["flood_connections"] == 50 and data["options"]["hold_s"] == 2.0
    assert "400 then close" in done.stdout


def test_the_attack_command_counts_only_failures_known_toml_does_not_record() -> None:
    from channels_harness.commands.attack import _table
    from channels_harness.experiments.attacks.run import KnownFailure

    leak = KnownFailure(frozenset({"leak"}), "o", "r")
    rows = [row(leaked_consumers=2), row(server="uvicorn", canary_ok=False)]
    servers, attacks = ["daphne", "uvicorn"], ["flood"]
    assert _table(rows, servers, attacks, recorded={})[1] == 2
    assert _table(rows, servers, attacks, recorded={("daphne", "flood"): leak})[1] == 1
    both = {("daphne", "flood"): leak, ("uvicorn", "flood"): leak}
    assert _table(rows, servers, attacks, recorded=both)[1] == 1  # uvicorn: canary, not leak
    assert _table([row()], servers, attacks, recorded=both)[1] == 0
