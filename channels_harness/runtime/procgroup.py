"""Child processes in their own process group that never outlive the harness.

:func:`spawn` starts a command in a new session (so its whole group can be
signalled), asks the kernel to send it SIGTERM if the harness dies without
cleaning up (``PR_SET_PDEATHSIG``), and optionally pins it to cores.
:func:`stop_group` terminates the group and every descendant, waits, kills
what is left, and reaps. :func:`stop_all` stops every group still running,
for the last line of defence in the CLI.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import psutil

from channels_harness.runtime.timeouts import scaled

_PR_SET_PDEATHSIG = 1
_libc: Any = None
_live: dict[int, subprocess.Popen[Any]] = {}
_live_lock = threading.Lock()


def _child_setup(cpus: frozenset[int] | None) -> Callable[[], None]:
    """What the child runs before exec: die with the harness, pin to cores."""
    global _libc
    if _libc is None and sys.platform.startswith("linux"):
        _libc = ctypes.CDLL(None, use_errno=True)
    libc = _libc

    def setup() -> None:
        if libc is not None:
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if cpus:
            os.sched_setaffinity(0, cpus)

    return setup


def spawn(
    argv: Sequence[str],
    *,
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
    stdin: int | IO[Any] | None = subprocess.DEVNULL,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = None,
    cpus: frozenset[int] | None = None,
    text: bool = False,
) -> subprocess.Popen[Any]:
    """Start ``argv`` as the leader of a new process group (see the module doc)."""
    popen: subprocess.Popen[Any] = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=env,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
        preexec_fn=_child_setup(cpus),
        text=text,
    )
    with _live_lock:
        _live[popen.pid] = popen
    return popen


def tree(pid: int) -> list[psutil.Process]:
    """``pid`` and every live descendant."""
    try:
        leader = psutil.Process(pid)
        return [leader, *leader.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def group_members(pgid: int) -> list[int]:
    """PIDs of live (non-zombie) processes whose process group is ``pgid``."""
    members = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(proc.info["pid"]) == pgid and proc.info["status"] != "zombie":
                members.append(proc.info["pid"])
        except (ProcessLookupError, psutil.Error):
            continue
    return members


def stop_group(popen: subprocess.Popen[Any], grace: float = 5.0) -> int:
    """Terminate ``popen``'s group and descendants, reap them, return the leader's code.

    SIGTERM first; whatever is still alive after ``grace`` (scaled) seconds gets
    SIGKILL. Safe to call on a process that already exited.
    """
    pgid = popen.pid
    # Snapshot the tree first: a worker may have left the group (setsid).
    descendants = tree(pgid)[1:]
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    for proc in descendants:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    try:
        popen.wait(timeout=scaled(grace))
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        popen.wait()
    stragglers = {proc.pid: proc for proc in descendants}
    for pid in group_members(pgid):
        with contextlib.suppress(psutil.Error):
            stragglers.setdefault(pid, psutil.Process(pid))
    _gone, alive = psutil.wait_procs(list(stragglers.values()), timeout=scaled(grace))
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=scaled(grace))
    with _live_lock:
        _live.pop(popen.pid, None)
    for stream in (popen.stdin, popen.stdout, popen.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    return int(popen.returncode)


def live() -> set[int]:
    """PIDs of the group leaders :func:`spawn` started that are not stopped yet."""
    with _live_lock:
        return set(_live)


def stop_all(keep: set[int] | None = None) -> None:
    """Stop every group :func:`spawn` started that is not stopped yet, except the
    leaders in ``keep`` (groups that belong to a caller further out)."""
    with _live_lock:
        running = [popen for pid, popen in _live.items() if pid not in (keep or set())]
    for popen in running:
        stop_group(popen)
