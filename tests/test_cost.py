"""``bench --cost``: instructions and syscalls per message counted under valgrind.

Two real runs (daphne and uvicorn, sync and async, 100 and 200 counted
messages), the second while a bounded busy loop holds the other core: sync
costs more instructions than async on both servers, and the two runs agree
within 1% (SyncConsumer within 2%: see the test). ``compare`` then gates on
those real runs: the same run passes,
instructions 3% higher fail, a vanished cell fails. Without valgrind on the
PATH the command is one line on stderr and exit 2.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from channels_harness.experiments.cost.phases import echo_scenario
from channels_harness.experiments.cost.run import Case, cost_row
from channels_harness.experiments.cost.valgrind import Counts, Tools, syscall_counts
from channels_harness.runtime.timeouts import scaled
from channels_harness.testing.suites import require_or_skip

Cli = Callable[..., "subprocess.CompletedProcess[str]"]
HARNESS = [sys.executable, "-m", "channels_harness.cli"]
COST_ARGS = ("--cost", "--servers", "daphne,uvicorn", "--flavours", "sync,async")
SMALL = ("--cost-messages", "100", "--cost-warmup", "30")


def _cost_run(results: Path) -> None:
    done = subprocess.run(
        [*HARNESS, "bench", *COST_ARGS, *SMALL, "--results", str(results)],
        capture_output=True,
        text=True,
        timeout=scaled(400),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _busy_loop(seconds: float) -> subprocess.Popen[bytes]:
    """A python loop on the core the server is not pinned to, that ends by itself."""
    cores = sorted(os.sched_getaffinity(0))
    code = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass\n"
    loop = subprocess.Popen([sys.executable, "-c", code])
    os.sched_setaffinity(loop.pid, {cores[-1]})
    # Lowest priority: the core is busy whenever nothing else wants it, and the tests
    # running beside this one under xdist are not starved for a minute.
    os.setpriority(os.PRIO_PROCESS, loop.pid, 19)
    return loop


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """Two cost runs: the first as the machine is, the second with the other core busy."""
    if shutil.which("valgrind") is None:
        require_or_skip("valgrind", "not installed (apt-get install valgrind)")
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("busy")
    _cost_run(first)
    loop = _busy_loop(300)
    try:
        _cost_run(second)
    finally:
        loop.kill()
        loop.wait()
    yield first, second


def _rows(results: Path) -> dict[tuple[str, str], dict[str, Any]]:
    (data_file,) = results.glob("*/data.json")
    rows = json.loads(data_file.read_text())["cost"]
    return {(r["server"], r["flavour"]): r for r in rows}


def test_sync_costs_more_instructions_than_async_on_daphne_and_uvicorn(
    runs: tuple[Path, Path],
) -> None:
    for results in runs:
        rows = _rows(results)
        for server in ("daphne", "uvicorn"):
            sync, asynchronous = rows[(server, "sync")], rows[(server, "async")]
            assert not sync["error"] and not asynchronous["error"]
            assert sync["instructions_per_msg"] > asynchronous["instructions_per_msg"] * 1.1
            # The thread hop shows in the syscalls too.
            assert sync["syscalls_per_msg"] > asynchronous["syscalls_per_msg"]
            assert sync["syscalls_by_name"]["futex"] > asynchronous["syscalls_by_name"]["futex"]


def test_two_runs_agree_within_one_percent_with_the_other_core_busy(
    runs: tuple[Path, Path],
) -> None:
    quiet, busy = (_rows(results) for results in runs)
    assert quiet.keys() == busy.keys() and len(quiet) == 4
    for cell, row in quiet.items():
        moved = busy[cell]["instructions_per_msg"] / row["instructions_per_msg"] - 1
        # AsyncConsumer: within 1%. SyncConsumer's thread hop hands the GIL over on a
        # wall-clock interval, so when the whole suite loads both cores (CI, under xdist)
        # daphne's sync cell moved 1.04% and 1.16% (0.58% with only the busy loop beside
        # it): within 2%, the compare gate's default, which it must never trip alone.
        bound = 0.02 if cell[1] == "sync" else 0.01
        assert abs(moved) < bound, f"{cell}: {moved:+.2%}"
        # The cost is linear in messages: what a phase costs beyond them is small.
        assert abs(row["fixed_share"]) < 0.05


def _changed(source: Path, target: Path, change: Callable[[list[dict[str, Any]]], None]) -> Path:
    (data_file,) = source.glob("*/data.json")
    data = json.loads(data_file.read_text())
    change(data["cost"])
    folder = target / data["run_id"]
    folder.mkdir(parents=True)
    (folder / "data.json").write_text(json.dumps(data))
    return folder


def _scale(factor: float) -> Callable[[list[dict[str, Any]]], None]:
    def change(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            row["instructions_per_msg"] *= factor

    return change


def test_compare_passes_the_same_run_and_the_busy_run(runs: tuple[Path, Path], cli: Cli) -> None:
    first, busy = (next(r.glob("*/")) for r in runs)
    assert cli("compare", str(first), str(first)).returncode == 0
    done = cli("compare", str(first), str(busy))
    assert done.returncode == 0, done.stdout[-3000:]
    assert "cost: uvicorn sync" in done.stdout and "instructions/msg" in done.stdout


def test_compare_fails_a_3_percent_instruction_rise_and_passes_1_percent(
    runs: tuple[Path, Path], cli: Cli, tmp_path: Path
) -> None:
    first = next(runs[0].glob("*/"))
    risen = _changed(runs[0], tmp_path / "risen", _scale(1.03))
    done = cli("compare", str(first), str(risen))
    assert done.returncode == 1, done.stdout[-3000:]
    assert "REGRESSION: rose 3.00% (more than 2%)" in done.stdout
    assert cli("compare", str(first), str(risen), "--max-cost-rise", "5").returncode == 0
    slight = _changed(runs[0], tmp_path / "slight", _scale(1.01))
    assert cli("compare", str(first), str(slight)).returncode == 0
    cheaper = _changed(runs[0], tmp_path / "cheaper", _scale(0.9))
    assert cli("compare", str(first), str(cheaper)).returncode == 0


def test_compare_fails_a_vanished_cost_cell(
    runs: tuple[Path, Path], cli: Cli, tmp_path: Path
) -> None:
    first = next(runs[0].glob("*/"))

    def drop(rows: list[dict[str, Any]]) -> None:
        rows[:] = [r for r in rows if (r["server"], r["flavour"]) != ("daphne", "sync")]

    dropped = _changed(runs[0], tmp_path / "dropped", drop)
    done = cli("compare", str(first), str(dropped))
    assert done.returncode == 1 and "missing: cost: daphne sync instructions/msg" in done.stdout
    assert cli("compare", str(first), str(dropped), "--allow-missing").returncode == 0

    def fail(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            if (row["server"], row["flavour"]) == ("uvicorn", "async"):
                row.update(instructions_per_msg=None, syscalls_per_msg=None, error="no reply")

    failed = _changed(runs[0], tmp_path / "failed", fail)
    done = cli("compare", str(first), str(failed))
    assert done.returncode == 1 and "missing: cost: uvicorn async" in done.stdout


def test_the_report_shows_the_cost_section_and_its_ratios(runs: tuple[Path, Path]) -> None:
    from channels_harness.report.markdown import render

    (data_file,) = runs[0].glob("*/data.json")
    text = render(json.loads(data_file.read_text()))
    assert "Cost per message (valgrind, deterministic)" in text
    assert "Cost ratios: counted against timed" in text
    assert "| sync / async | uvicorn sync | uvicorn async |" in text


def test_without_valgrind_on_the_path_the_command_says_so_and_exits_2(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    done = subprocess.run(
        [*HARNESS, "bench", "--cost", "--results", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and "valgrind not found on the PATH" in lines[0]
    assert "Traceback" not in done.stderr and not list(tmp_path.iterdir())


def test_syscalls_are_counted_once_each_and_vdso_calls_apart() -> None:
    trace = b"\n".join(
        [
            b"SYSCALL[5102,1](228) sys_clock_gettime( 1, 0x1ffefff0c0 )[sync] --> Success(0x0) ",
            b"SYSCALL[5102,1](281) sys_epoll_pwait ( 9, 0x1ffeffc0a0, 1024, 69 ) --> [async] ... ",
            b"SYSCALL[5102,1](281) ... [async] --> Success(0x0) ",
            b"SYSCALL[5102,2](202) sys_futex ( 0x5, 129, 1 ) --> [async] ... ",
            b"SYSCALL[5102,2](202) ... [async] --> Success(0x1) ",
            b"==5102== some other valgrind line",
            b"SYSCALL[5102,1](  1) sys_write ( 9, 0x4, 34 ) --> [pre-success] Success(0x22) ",
        ]
    )
    counts = Counts(1000, syscall_counts(trace))
    assert counts.syscalls == Counter(clock_gettime=1, epoll_pwait=1, futex=1, write=1)
    assert (counts.kernel_calls, counts.vdso_calls) == (3, 1)


def test_a_row_is_the_difference_of_its_two_phases_per_message() -> None:
    tools = Tools("valgrind", "callgrind_control", "valgrind-3.19.0")
    first = Counts(1_000_000 + 100 * 5000, Counter(futex=300, clock_gettime=500))
    second = Counts(1_000_000 + 200 * 5000, Counter(futex=600, clock_gettime=1000, read=1))
    row = cost_row(
        "uvicorn",
        Case("sync", "/ws/echo/sync/", echo_scenario()),
        30,
        100,
        [first, second],
        tools,
        1,
    )
    assert row.instructions_per_msg == 5000
    assert row.syscalls_per_msg == 3.01 and row.vdso_calls_per_msg == 5
    assert row.syscalls_by_name["futex"] == 3
    # A million instructions in every phase whatever its length: the fixed share.
    assert row.fixed_share == pytest.approx(1_000_000 / 1_500_000, abs=1e-4)
