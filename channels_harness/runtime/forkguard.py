"""Processes a child forks on its own die with it.

The harness gives every child it starts a parent-death signal
(:mod:`.procgroup`). A child that then forks workers itself (locust with
``--processes``) passes nothing on: the kernel clears the signal in a forked
process, so when the harness is killed and the child goes, its workers live
on until they notice (locust's heartbeat: up to a minute). :func:`arm` makes
every process this one forks from then on receive SIGKILL when this one dies,
and end at once if it died before the signal was set.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

# prctl(2) option that sets the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1

_parent: list[int] = []
_armed: list[bool] = []


def _before_fork() -> None:
    _parent[:] = [os.getpid()]


def _in_child() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if _parent and os.getppid() != _parent[0]:
        os._exit(1)  # the parent died between the fork and the prctl


def arm() -> None:
    """From now on, every process this one forks (os.fork and what calls it) dies
    with it. Linux only; elsewhere nothing happens. Calling it again does nothing."""
    if not sys.platform.startswith("linux") or _armed:
        return
    os.register_at_fork(before=_before_fork, after_in_child=_in_child)
    _armed.append(True)
