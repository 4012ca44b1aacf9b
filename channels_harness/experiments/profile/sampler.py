"""Sample a running server with py-spy for a bounded time.

py-spy attaches to the server's process (and its children) with ptrace and
reads the Python stacks of every thread ``rate`` times a second. It runs
through :func:`channels_harness.runtime.procgroup.spawn` like every child of
the harness, on the cores given (the generator's, so the sampler's own CPU
stays off the server's core), is told to stop after ``seconds`` and is stopped
and reaped whatever happens. As root that is all it needs; another user needs
``kernel.yama.ptrace_scope`` at 0 (``sudo sysctl kernel.yama.ptrace_scope=0``)
or the ``CAP_SYS_PTRACE`` capability.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from channels_harness.errors import ProfilerError
from channels_harness.runtime import procgroup
from channels_harness.runtime.timeouts import scaled

PTRACE_HINT = (
    "py-spy needs to ptrace the server: run as root, or set kernel.yama.ptrace_scope=0 "
    "(sudo sysctl kernel.yama.ptrace_scope=0), or give py-spy CAP_SYS_PTRACE"
)
# How long py-spy may take beyond its sampling time to attach and write its file.
SLACK_S = 20.0


def py_spy() -> str:
    """The py-spy executable next to this interpreter, or on PATH; :class:`ProfilerError`
    if there is none."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.is_file():
        return str(beside)
    found = shutil.which("py-spy")
    if found is None:
        raise ProfilerError(
            "py-spy is not installed: pip install py-spy (the harness depends on it)"
        )
    return found


def command(pid: int, output: Path, seconds: float, rate: int) -> list[str]:
    """The py-spy command line: raw stacks of every thread of ``pid`` and its
    children, idle ones included, with full file names and no line numbers."""
    return [
        py_spy(),
        "record",
        "--pid",
        str(pid),
        "--format",
        "raw",
        "--output",
        str(output),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        str(rate),
        "--idle",
        "--threads",
        "--subprocesses",
        "--full-filenames",
        "--nolineno",
    ]


def record(
    pid: int, output: Path, seconds: float, rate: int, cpus: frozenset[int] | None = None
) -> str:
    """Sample ``pid`` for ``seconds`` at ``rate`` Hz into ``output`` and return the
    raw stacks; :class:`ProfilerError` (with py-spy's last words) if it could not."""
    output.unlink(missing_ok=True)
    popen = procgroup.spawn(
        command(pid, output, seconds, rate),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cpus=cpus,
        text=True,
    )
    try:
        said, _ = popen.communicate(timeout=scaled(seconds + SLACK_S))
    except subprocess.TimeoutExpired:
        raise ProfilerError(
            f"py-spy did not finish sampling pid {pid} within {scaled(seconds + SLACK_S):.0f} s"
        ) from None
    finally:
        procgroup.stop_group(popen)
    if popen.returncode != 0 or not output.is_file():
        last = (said or "").strip().splitlines()[-1:] or ["(no output)"]
        hint = f"; {PTRACE_HINT}" if "ermission" in (said or "") else ""
        raise ProfilerError(
            f"py-spy could not sample pid {pid} (exit {popen.returncode}): {last[0]}{hint}"
        )
    return output.read_text(encoding="utf-8", errors="replace")
