"""The one process spawner (channels_harness/runtime/procgroup.py) with real children.

What the kernel promises is checked with real processes: a child gets SIGTERM
when the process that spawned it is SIGKILLed (through setpriv, and through
the Python trampoline used without it), yet outlives the thread that asked
for it; a pinned child runs on its cores from the start while the caller
keeps its own; every child is registered until stopped; the load engine's
generator workers die with the process that runs the load. And no other
module of the core package starts a child process.
"""

from __future__ import annotations

import ast
import contextlib
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from channels_harness.runtime import procgroup
from channels_harness.runtime.timeouts import scaled
from channels_harness.testing.suites import require_or_skip

PACKAGE = Path(procgroup.__file__).resolve().parents[1]


def gone(pid: int) -> bool:
    """Whether ``pid`` no longer runs (a zombie waiting for its reaper counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.05)
    return gone(pid)


def wait_exec(pid: int, name: str, timeout: float = 10) -> None:
    """Wait until ``pid`` runs ``name`` (past setpriv or the trampoline)."""
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        if psutil.Process(pid).name() == name:
            return
        time.sleep(0.02)
    pytest.fail(f"{pid} never ran {name}: {psutil.Process(pid).cmdline()}")


@pytest.fixture
def stop_children() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for popen in started:
        procgroup.stop_group(popen, grace=1.0)


SPAWNER = textwrap.dedent(
    """
    import sys, threading, time
    from channels_harness.runtime import procgroup
    if sys.argv[1] == "trampoline":
        procgroup._setpriv = lambda: None
    box = []
    # From a thread that ends at once: the child must not die with it.
    thread = threading.Thread(target=lambda: box.append(procgroup.spawn(["sleep", "120"])))
    thread.start()
    thread.join()
    print(box[0].pid, flush=True)
    time.sleep(120)
    """
)


@pytest.mark.parametrize("via", ["setpriv", "trampoline"])
def test_a_child_gets_sigterm_when_its_spawner_is_sigkilled(via: str) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", SPAWNER, via], stdout=subprocess.PIPE, start_new_session=True
    ) as parent:
        try:
            assert parent.stdout is not None
            child = int(parent.stdout.readline())
            wait_exec(child, "sleep")
            time.sleep(scaled(0.5))
            assert not gone(child), "the child died with the thread that spawned it"
            assert os.getsid(child) == child, "the child is not the leader of its own session"
            parent.send_signal(signal.SIGKILL)
            parent.wait()
            assert wait_gone(child, 10), "the child outlived its SIGKILLed spawner"
        finally:
            parent.kill()


LOADER = textwrap.dedent(
    """
    from channels_harness.generators.engine import LoadConfig, run_load
    from channels_harness.servers.process import serving
    with serving("raw-echo") as server:
        run_load(LoadConfig(url=server.ws_url("/"), connections=2, duration_s=120), processes=2)
    """
)


def test_generator_workers_and_servers_die_with_a_sigkilled_load_run() -> None:
    with subprocess.Popen([sys.executable, "-c", LOADER], start_new_session=True) as parent:
        try:
            deadline = time.monotonic() + scaled(60)
            while True:
                children = psutil.Process(parent.pid).children()
                with contextlib.suppress(psutil.Error):
                    lines = [" ".join(child.cmdline()) for child in children]
                    if sum("generators.engine.worker" in line for line in lines) == 2:
                        break
                assert parent.poll() is None and time.monotonic() < deadline, children
                time.sleep(0.05)
            time.sleep(scaled(1.0))
            parent.kill()
            parent.wait()
            # Far sooner than the 120 s the workers were told to run.
            assert [child.pid for child in children if not wait_gone(child.pid, 10)] == []
        finally:
            parent.kill()


def test_a_child_spawned_from_a_thread_outlives_that_thread(
    stop_children: list[subprocess.Popen[bytes]],
) -> None:
    box: list[subprocess.Popen[bytes]] = []
    thread = threading.Thread(target=lambda: box.append(procgroup.spawn(["sleep", "60"])))
    thread.start()
    thread.join()
    stop_children.extend(box)
    time.sleep(scaled(0.5))
    assert box[0].poll() is None, f"the child exited with {box[0].returncode}"
    assert box[0].pid in procgroup.live()


def test_a_pinned_child_runs_on_its_cores_and_the_caller_keeps_its_own(
    stop_children: list[subprocess.Popen[bytes]],
) -> None:
    mine = os.sched_getaffinity(0)
    if len(mine) < 2:
        require_or_skip("two usable cores", f"this process may run on {sorted(mine)} only")
    core = max(mine)
    # The child forks a grandchild at once: it must be pinned too.
    popen = procgroup.spawn(["sh", "-c", "sleep 60 & wait"], cpus=frozenset({core}))
    stop_children.append(popen)
    assert os.sched_getaffinity(popen.pid) == {core}
    deadline = time.monotonic() + scaled(10)
    while not (grandchildren := procgroup.tree(popen.pid)[1:]):
        assert time.monotonic() < deadline, "sh started no sleep"
        time.sleep(0.02)
    assert [os.sched_getaffinity(p.pid) for p in grandchildren] == [{core}]
    assert os.sched_getaffinity(0) == mine
    unpinned = procgroup.spawn(["sleep", "60"])
    stop_children.append(unpinned)
    assert os.sched_getaffinity(unpinned.pid) == mine


def test_stop_all_stops_and_reaps_every_spawned_group_but_the_kept_ones() -> None:
    kept = procgroup.spawn(["sleep", "60"])
    try:
        others = [procgroup.spawn(["sh", "-c", "sleep 60 & wait"]) for _ in range(2)]
        assert {kept.pid, *(p.pid for p in others)} <= procgroup.live()
        procgroup.stop_all(keep={kept.pid} | (procgroup.live() - {p.pid for p in others}))
        assert [p.returncode for p in others] == [-signal.SIGTERM] * 2
        assert not {p.pid for p in others} & procgroup.live()
        assert kept.poll() is None
    finally:
        procgroup.stop_group(kept)
    assert kept.pid not in procgroup.live()


FORKER = textwrap.dedent(
    """
    import os
    from channels_harness.runtime import procgroup
    parents = procgroup.spawn(["sleep", "60"])
    pid = os.fork()
    if pid == 0:
        # The parent's children are not this process's to stop, and spawning works.
        mine = procgroup.spawn(["true"])
        ok = procgroup.live() == {mine.pid} and mine.wait(timeout=30) == 0
        os._exit(0 if ok else 3)
    _, status = os.waitpid(pid, 0)
    procgroup.stop_all()
    raise SystemExit(os.waitstatus_to_exitcode(status) or (parents.returncode != -15) * 4)
    """
)


def test_a_forked_process_starts_its_own_children_and_forgets_its_parents() -> None:
    with subprocess.Popen([sys.executable, "-c", FORKER], start_new_session=True) as script:
        try:
            assert script.wait(timeout=scaled(60)) == 0
        finally:
            # A failed run may leave the forked process waiting forever: end them all.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(script.pid, signal.SIGKILL)


def test_a_missing_program_raises_file_not_found_and_starts_nothing() -> None:
    before = procgroup.live()
    with pytest.raises(FileNotFoundError, match="no-such-program-here"):
        procgroup.spawn(["no-such-program-here", "x"])
    assert procgroup.live() == before


def test_without_setpriv_the_trampoline_is_used_and_said_once(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    stop_children: list[subprocess.Popen[bytes]],
) -> None:
    which = procgroup.shutil.which

    def no_setpriv(name: str, **kwargs: str | None) -> str | None:
        return None if name == "setpriv" else which(name, **kwargs)  # type: ignore[arg-type]

    procgroup._setpriv.cache_clear()
    monkeypatch.setattr(procgroup.shutil, "which", no_setpriv)
    try:
        with caplog.at_level(logging.WARNING, logger=procgroup.__name__):
            for _ in range(2):
                stop_children.append(procgroup.spawn(["sh", "-c", "kill -s PIPE $$; sleep 5"]))
    finally:
        procgroup._setpriv.cache_clear()
    assert ["setpriv" in record.getMessage() for record in caplog.records] == [True]
    for popen in stop_children:
        # The trampoline's Python ignores SIGPIPE; the command must not inherit that.
        assert popen.wait(timeout=scaled(10)) == -signal.SIGPIPE


def test_no_other_module_of_the_package_starts_a_child_process() -> None:
    allowed = {
        # Short-lived helpers that end before the call returns.
        ("runtime/environment.py", "subprocess.run"),
        ("runtime/procgroup.py", "subprocess.run"),
        ("runtime/procgroup.py", "subprocess.Popen"),
        # valgrind --version and callgrind_control -z/-d: each bounded by its timeout.
        ("experiments/cost/valgrind.py", "subprocess.run"),
    }
    starters = {
        "subprocess.Popen",
        "subprocess.run",
        "subprocess.call",
        "subprocess.check_call",
        "subprocess.check_output",
        "os.fork",
        "os.system",
        "os.popen",
        "os.posix_spawn",
        "os.spawnv",
        "asyncio.create_subprocess_exec",
        "asyncio.create_subprocess_shell",
        "multiprocessing.Process",
    }
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            call = node.func if isinstance(node, ast.Call) else None
            if isinstance(call, ast.Attribute) and isinstance(call.value, ast.Name):
                name = f"{call.value.id}.{call.attr}"
                if name in starters:
                    found.add((path.relative_to(PACKAGE).as_posix(), name))
            if isinstance(node, ast.keyword) and node.arg == "preexec_fn":
                found.add((path.relative_to(PACKAGE).as_posix(), "preexec_fn"))
    assert found - allowed == set()


FORKING_PARENT = """
import os, sys, time
from channels_harness.runtime import forkguard
if sys.argv[1] == "armed":
    forkguard.arm()
child = os.fork()
if child == 0:
    time.sleep(60)
    os._exit(0)
print(child, flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("armed", [True, False])
def test_a_process_forked_by_a_child_dies_with_it_once_armed(armed: bool) -> None:
    """What locust --processes does: the harness's child forks workers of its own.
    Armed, they get SIGKILL when their parent dies; unarmed (the kernel's default)
    they live on, which is why locust_setup arms the guard."""
    mode = "armed" if armed else "plain"
    with subprocess.Popen(
        [sys.executable, "-c", FORKING_PARENT, mode], stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        child = psutil.Process(int(parent.stdout.readline()))
        parent.kill()
        parent.wait(timeout=10)
        try:
            gone, _alive = psutil.wait_procs([child], timeout=5)
            assert bool(gone) == armed
        finally:
            with contextlib.suppress(psutil.Error):
                child.kill()
