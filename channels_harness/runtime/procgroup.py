"""Child processes in their own process group that never outlive the harness.

This module is the only place the harness starts a long-lived child process
(servers, generator workers, locust, redis-server, the conformance pytest).
:func:`spawn` starts a command as the leader of a new session, arranges for
the kernel to send it SIGTERM if the harness dies without cleaning up, pins it
to cores when asked, and registers it; :func:`stop_group` terminates the group
and every descendant, waits, kills what is left, and reaps; :func:`stop_all`
stops every group still running, the command line's last line of defence.

How, and why this way (chosen from what the kernel and Python document, not
measured):

* No ``preexec_fn``: Python documents it as unsafe in a program with threads,
  and the harness has threads. The session comes from ``start_new_session``,
  which runs no Python code between fork and exec.
* The parent-death signal: the command is executed through
  ``setpriv --pdeathsig TERM --`` (util-linux 2.33 or later), which sets
  ``PR_SET_PDEATHSIG`` and then execs the command in the same process. It is
  one exec of a small C program, so a server's measured start-up time barely
  moves, and the command inherits no signal dispositions from it. Without a
  ``setpriv`` that knows ``--pdeathsig`` (said once, as a warning on stderr),
  a Python trampoline does the same at the cost of an interpreter start; it
  also checks that its parent is still the harness, closing the window in
  which a harness killed between fork and ``prctl`` would leave the child
  without the signal (with ``setpriv`` that window is its exec, well under a
  millisecond).
* The kernel sends the parent-death signal when the *thread* that forked the
  child exits, not only when the process does. So every child is forked by
  one daemon thread that lives as long as the harness (the spawner); callers
  in any thread hand it their command and wait for the :class:`subprocess.Popen`.
* Pinning: the spawner sets its own thread's CPU affinity to the requested
  cores just before forking and restores it after. A child inherits the
  forking thread's affinity, so it runs pinned from its first instruction and
  nothing it forks can escape, with no extra exec (``taskset``) and no window
  in which it runs unpinned (as with ``sched_setaffinity(pid)`` after the
  fact). A child started without cores gets the calling thread's affinity,
  as a plain fork would give it.
* The spawner registers the child before handing it back, so a caller
  interrupted while waiting (Ctrl-C) still leaves it to :func:`stop_all`.
* A network namespace (``netns``, for the tests that put processes on
  separate virtual hosts): the command runs under ``ip netns exec NAME``, which
  enters the namespace and execs the command in the same process, so the pid,
  the group, the parent-death signal and the pinning stay the command's.

Short-lived helper commands (``git`` in :mod:`.environment`, the one
``setpriv --help`` probe here) run through :func:`subprocess.run` and end
before it returns.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import IO, Any

import psutil

from channels_harness.runtime.timeouts import scaled

_log = logging.getLogger(__name__)
_live: dict[int, subprocess.Popen[Any]] = {}
_live_lock = threading.Lock()

# Executed as ``python -I -S -c _TRAMPOLINE <harness pid> <command...>`` when
# setpriv cannot set the parent-death signal. Python ignores SIGPIPE and
# SIGXFSZ at start-up and an ignored signal stays ignored across exec, so the
# trampoline gives them back their default action before it execs the command.
_TRAMPOLINE = """\
import ctypes, os, signal, sys
ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)
if os.getppid() != int(sys.argv[1]):
    os._exit(1)
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
os.execv(sys.argv[2], sys.argv[2:])
"""

# Where ``ip`` (iproute2) is looked for, for ``spawn(netns=...)``.
_IP_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])

_Request = tuple["Future[subprocess.Popen[Any]]", Callable[[], "subprocess.Popen[Any]"]]
_spawner: queue.SimpleQueue[_Request] | None = None
_spawner_lock = threading.Lock()


@functools.cache
def _setpriv() -> str | None:
    """The path of a ``setpriv`` that can set the parent-death signal, or None
    (then warn once that the Python trampoline is used instead)."""
    path = shutil.which("setpriv")
    if path is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            usage = subprocess.run(
                [path, "--help"], capture_output=True, text=True, timeout=10, check=False
            ).stdout
            if "--pdeathsig" in usage:
                return path
    _log.warning(
        "setpriv with --pdeathsig (util-linux 2.33+) not found: child processes get "
        "their parent-death signal through a Python trampoline (slower start-up)"
    )
    return None


def _with_death_signal(executable: str, argv: Sequence[str]) -> list[str]:
    """``argv`` (its program resolved to ``executable``) wrapped so that the child
    gets SIGTERM when the harness dies."""
    setpriv = _setpriv()
    if setpriv is not None:
        return [setpriv, "--pdeathsig", "TERM", "--", executable, *argv[1:]]
    return [sys.executable, "-I", "-S", "-c", _TRAMPOLINE, str(os.getpid()), executable, *argv[1:]]


def _resolve(program: str, cwd: Path | str | None, env: dict[str, str] | None) -> str:
    """The path exec would run for ``program``; FileNotFoundError as Popen raises it."""
    if os.sep in program:
        path = os.path.join(cwd, program) if cwd is not None else program
        found = path if os.access(path, os.X_OK) and not os.path.isdir(path) else None
    else:
        found = shutil.which(program, path=(os.environ if env is None else env).get("PATH"))
    if found is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
    return os.path.abspath(found) if os.sep in program else found


def _serve(requests: queue.SimpleQueue[_Request]) -> None:
    """The spawner thread: run spawn requests, one at a time, for the life of the process."""
    while True:
        future, start = requests.get()
        try:
            future.set_result(start())
        except Exception as exc:
            future.set_exception(exc)


def _forget_parent_state() -> None:
    """In a forked child: the spawner thread does not exist there (a new one starts
    when needed), a lock may have been held by another thread, and the children
    registered are its parent's, not its own."""
    global _spawner, _spawner_lock, _live, _live_lock
    _spawner = None
    _spawner_lock = threading.Lock()
    _live = {}
    _live_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_parent_state)


def _in_spawner(start: Callable[[], subprocess.Popen[Any]]) -> subprocess.Popen[Any]:
    """Run ``start`` in the spawner thread (started on first use) and return its result."""
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            _spawner = queue.SimpleQueue()
            threading.Thread(
                target=_serve, args=(_spawner,), name="procgroup-spawner", daemon=True
            ).start()
        requests = _spawner
    future: Future[subprocess.Popen[Any]] = Future()
    requests.put((future, start))
    return future.result()


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
    netns: str | None = None,
) -> subprocess.Popen[Any]:
    """Start ``argv`` as the leader of a new session that gets SIGTERM when the
    harness dies, pinned to ``cpus`` (else with the calling thread's cores), inside
    the network namespace ``netns`` when given, and registered for :func:`stop_all`
    (see the module doc for how).

    The returned Popen's pid is the command's own. Raises FileNotFoundError when
    ``argv[0]`` (or ``ip``, with ``netns``) cannot be found, as :class:`subprocess.Popen` does.
    """
    executable = _resolve(argv[0], cwd, env)
    if netns is not None:
        argv = ["ip", "netns", "exec", netns, executable, *argv[1:]]
        executable = _resolve("ip", None, {"PATH": _IP_PATH})
    mask = set(cpus) if cpus else os.sched_getaffinity(0)

    def start() -> subprocess.Popen[Any]:
        command = _with_death_signal(executable, argv)
        home = os.sched_getaffinity(0)
        os.sched_setaffinity(0, mask)
        try:
            popen: subprocess.Popen[Any] = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
                text=text,
            )
            with _live_lock:
                _live[popen.pid] = popen
        finally:
            os.sched_setaffinity(0, home)
        return popen

    return _in_spawner(start)


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
    # Snapshot the tree first: a worker may have left the group (setsid). Only
    # while the leader runs: once reaped, its pid may belong to another process.
    descendants = tree(pgid)[1:] if popen.poll() is None else []
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
