"""Child processes of the tests that never outlive them.

Every test that runs ``channels-harness`` (or another long-lived command) in a
subprocess starts it here, through the harness's own
:func:`channels_harness.runtime.procgroup.spawn`: the child leads its own process
group and gets SIGTERM from the kernel when the test's process dies (an xdist
worker killed, pytest-timeout's ``thread`` method ending the process), so it
cannot run on as an orphan holding a server. When the test ends early (a
timeout, a failed assertion, pytest-timeout's signal) the group and every
descendant are stopped before the exception goes on.

- :func:`run`: like ``subprocess.run(..., capture_output=True, timeout=...)``.
- :func:`started`: like ``with subprocess.Popen(...) as proc``; on leaving, the
  group is stopped whatever happened.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from channels_harness.runtime import procgroup

Stream = int | IO[Any] | None


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
    text: bool = True,
    check: bool = False,
) -> subprocess.CompletedProcess[Any]:
    """Run ``argv`` to its end with its output captured; on a timeout (raised as
    :class:`subprocess.TimeoutExpired`) or any other exception, stop its group first."""
    popen = procgroup.spawn(
        list(argv), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=text
    )
    try:
        stdout, stderr = popen.communicate(timeout=timeout)
    finally:
        # Reaps the leader, stops whatever of its group is left (all of it after an
        # exception) and forgets it: nothing of this command outlives the call.
        procgroup.stop_group(popen)
    done = subprocess.CompletedProcess(list(argv), popen.returncode, stdout, stderr)
    if check:
        done.check_returncode()
    return done


@contextlib.contextmanager
def started(
    argv: Sequence[str],
    *,
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
    stdin: Stream = subprocess.DEVNULL,
    stdout: Stream = None,
    stderr: Stream = None,
    text: bool = False,
) -> Iterator[subprocess.Popen[Any]]:
    """``argv`` started in its own process group; stopped (group and descendants,
    SIGTERM then SIGKILL) when the block ends, however it ends."""
    popen = procgroup.spawn(
        list(argv), cwd=cwd, env=env, stdin=stdin, stdout=stdout, stderr=stderr, text=text
    )
    try:
        yield popen
    finally:
        procgroup.stop_group(popen)
