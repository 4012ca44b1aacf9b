"""A locust worker on a load host: what ``channels-harness worker --master HOST[:PORT]`` runs.

``channels-harness load`` runs one locust master per cell, so a load host serves
the masters of a run one after another. :func:`serve` waits (bounded) until a
master accepts connections at the address, runs a locust worker against it, and
when that master is done (it tells its workers to quit) waits for the next.

The worker is ``locust -f - --worker``: locust's own way for a worker to ask
its master for the locustfile, whose text the master sends (the bundled one of
the cell, or your ``--locustfile``: a single file; modules it imports must be
installed on the load host). With every spawn message the master also sends the
host, the user counts and the ``--ws-*`` options, the scenario file and the
message file read into them, so a load host needs only the installed package.

:func:`serve` returns after ``cells`` masters when given, or once no master came
for ``wait_s`` seconds after at least one; before any,
:class:`~channels_harness.errors.MasterUnreachableError`. Each locust worker
starts through :mod:`~channels_harness.runtime.procgroup` and is stopped on every
exit path; the files it receives go to a private temporary folder, removed at the end.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from channels_harness.errors import GeneratorError, MasterUnreachableError
from channels_harness.runtime import procgroup

# How often to look for a master, and how long to wait for one that is done to go.
_POLL_S = 0.2
_GONE_S = 10.0
# A load host gives up after this many locust workers in a row that failed.
_FAILURES_IN_A_ROW = 3


@dataclass(frozen=True)
class WorkerPlan:
    """Serve the masters at ``host``:``port``, waiting up to ``wait_s`` seconds for
    each; stop after ``cells`` of them when given."""

    host: str
    port: int
    wait_s: float = 60.0
    cells: int | None = None

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def worker_command(plan: WorkerPlan) -> list[str]:
    """The locust worker that asks the master at ``plan``'s address for everything."""
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        "-",
        "--worker",
        "--master-host",
        plan.host,
        "--master-port",
        str(plan.port),
    ]


def master_answers(host: str, port: int) -> bool:
    """Whether something accepts TCP connections at ``host``:``port`` now."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def wait_for_master(plan: WorkerPlan) -> bool:
    """Poll until a master answers at ``plan``'s address (True) or ``wait_s`` passed."""
    deadline = time.monotonic() + plan.wait_s
    while not master_answers(plan.host, plan.port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_S)
    return True


def _wait_until_gone(plan: WorkerPlan) -> None:
    """After a master's workers quit, wait (bounded) until that master stops listening,
    so the next worker joins the next master, not the one shutting down."""
    deadline = time.monotonic() + _GONE_S
    while master_answers(plan.host, plan.port) and time.monotonic() < deadline:
        time.sleep(_POLL_S)


def serve(plan: WorkerPlan, say: Callable[[str], None]) -> int:
    """Serve masters as the module doc says; return how many. ``say`` gets one line
    per event (a master found, a worker done)."""
    served = failed = 0
    with tempfile.TemporaryDirectory(prefix="channels-harness-worker-") as scratch:
        env = {**os.environ, "TMPDIR": scratch}
        while plan.cells is None or served < plan.cells:
            if not wait_for_master(plan):
                if served == 0:
                    raise MasterUnreachableError(
                        f"no locust master answered at {plan.address} within "
                        f"{plan.wait_s:g} s: start `channels-harness load --master-bind ... "
                        "--expect-workers N` there first, and check this host reaches that port"
                    )
                say(f"no master at {plan.address} for {plan.wait_s:g} s: done")
                break
            say(f"master at {plan.address}: starting a locust worker")
            code = _run_worker(plan, scratch, env)
            served += 1
            failed = failed + 1 if code != 0 else 0
            say(f"locust worker done (exit code {code}); {served} master(s) served")
            if failed >= _FAILURES_IN_A_ROW:
                raise GeneratorError(
                    f"{failed} locust workers in a row exited with an error (last code {code}): "
                    "see their log above"
                )
            _wait_until_gone(plan)
    return served


def _run_worker(plan: WorkerPlan, scratch: str, env: dict[str, str]) -> int:
    """Run one locust worker until it exits; stop it on any way out."""
    popen = procgroup.spawn(worker_command(plan), cwd=scratch, env=env, stdin=subprocess.DEVNULL)
    try:
        return popen.wait()
    finally:
        procgroup.stop_group(popen, grace=5.0)
