"""Valgrind as a meter of one server: the command the server runs under, its
counters zeroed and dumped around a phase, and what the dump and the syscall
trace say about that phase.

The server runs under ``valgrind --tool=callgrind`` with ``--trace-syscalls=yes``
(and ``--trace-children=yes``, so a server that starts worker processes is
counted in all of them), uninstrumented until :meth:`Meter.instrument` (its
start-up, Django's imports, then takes seconds, not half a minute).
:meth:`Meter.zero` runs ``callgrind_control -z`` on every process of the
server and notes how far each one's syscall trace has got; :meth:`Meter.dump`
runs ``callgrind_control -d`` and reads, per process, the ``summary:`` line of
the new dump (the guest instructions executed since the zero, user space only:
valgrind sees no kernel code) and the syscalls traced since the zero.

Syscalls are counted from valgrind's own trace of the same process over the
same phase (one line per call; the second line of a blocking call is not
counted again), not from a separate ``strace`` run: the phase is then exactly
the one whose instructions are counted, and no second server start is needed.
Under valgrind the calls a native process makes through the vDSO without
entering the kernel (:data:`VDSO_CALLS`: ``clock_gettime`` and its kin) are
real syscalls, so they are counted apart and left out of the syscall figure.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from channels_harness.errors import CostError, ValgrindMissingError
from channels_harness.runtime.timeouts import scaled

# Served by the vDSO natively (x86-64 and arm64): no kernel entry outside valgrind.
VDSO_CALLS = frozenset({"clock_gettime", "clock_getres", "gettimeofday", "time", "getcpu"})

# The first line valgrind traces for a syscall: SYSCALL[pid,tid](number) sys_name(...
# (a blocking call's second line has "... [async]" where the name is, so it does not match).
_SYSCALL = re.compile(rb"^SYSCALL\[\d+,\d+\]\(\s*\d+\) (?:sys_)?([a-z_0-9]+)", re.MULTILINE)
_SUMMARY = re.compile(rb"^summary:\s*(\d+)", re.MULTILINE)
_DUMP_WAIT_S = 60.0


@dataclass(frozen=True)
class Tools:
    """Where valgrind and callgrind_control are, and valgrind's version."""

    valgrind: str
    control: str
    version: str


def find_tools(path: str | None = None) -> Tools:
    """valgrind and callgrind_control on ``path`` (default: the PATH); one
    :class:`ValgrindMissingError` (exit 2) naming how to install them otherwise."""
    valgrind = shutil.which("valgrind", path=path)
    control = shutil.which("callgrind_control", path=path)
    if valgrind is None or control is None:
        missing = "valgrind" if valgrind is None else "callgrind_control"
        raise ValgrindMissingError(
            f"{missing} not found on the PATH: --cost counts instructions and syscalls under "
            "valgrind's callgrind; install valgrind (Debian: apt-get install valgrind)"
        )
    found = subprocess.run(
        [valgrind, "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    return Tools(valgrind, control, found.stdout.strip() or "valgrind")


@dataclass(frozen=True)
class Counts:
    """What one phase cost: guest instructions and syscalls by name, over every
    process of the server."""

    instructions: int
    syscalls: Counter[str] = field(default_factory=Counter)

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.instructions + other.instructions, self.syscalls + other.syscalls)

    @property
    def kernel_calls(self) -> int:
        """Syscalls but the vDSO ones: the calls that enter the kernel natively."""
        return sum(n for name, n in self.syscalls.items() if name not in VDSO_CALLS)

    @property
    def vdso_calls(self) -> int:
        return sum(n for name, n in self.syscalls.items() if name in VDSO_CALLS)


@dataclass
class Meter:
    """The server's valgrind wrapper and its counters; files go to ``folder``."""

    tools: Tools
    folder: Path
    _log_offsets: dict[int, int] = field(default_factory=dict)
    _dumps: dict[int, int] = field(default_factory=dict)

    def wrapper(self) -> list[str]:
        """What goes before the server's command line."""
        return [
            self.tools.valgrind,
            "--tool=callgrind",
            "--instr-atstart=no",
            "--trace-children=yes",
            "--trace-syscalls=yes",
            f"--callgrind-out-file={self.folder}/callgrind.out.%p",
            f"--log-file={self.folder}/valgrind.%p.log",
        ]

    def traced(self) -> list[int]:
        """The pids valgrind writes a log for (every traced process so far)."""
        return sorted(int(p.name.split(".")[1]) for p in self.folder.glob("valgrind.*.log"))

    def log(self, pid: int) -> Path:
        return self.folder / f"valgrind.{pid}.log"

    def log_tail(self, lines: int = 30) -> str:
        """The end of the last traced process's valgrind log, syscall lines left out."""
        pids = self.traced()
        if not pids:
            return ""
        text = self.log(pids[-1]).read_bytes()[-256 * 1024 :].decode("utf-8", "replace")
        kept = [line for line in text.splitlines() if not line.startswith("SYSCALL[")]
        return "\n".join(kept[-lines:])

    def instrument(self, pids: list[int]) -> None:
        """Start counting in ``pids`` (the server starts uninstrumented, four times
        faster; the warm-up that follows translates the code it runs again)."""
        for pid in pids:
            self._control("--instr=on", pid)

    def zero(self, pids: list[int]) -> None:
        """Zero the instruction counters of ``pids`` and mark where their syscall
        traces are."""
        for pid in pids:
            self._control("-z", pid)
            self._log_offsets[pid] = self.log(pid).stat().st_size

    def dump(self, pids: list[int]) -> Counts:
        """The counts of ``pids`` since :meth:`zero`, added up."""
        total = Counts(0)
        for pid in pids:
            end = self.log(pid).stat().st_size
            with open(self.log(pid), "rb") as log:
                log.seek(self._log_offsets[pid])
                segment = log.read(end - self._log_offsets[pid])
            self._control("-d", pid)
            total = total + Counts(self._read_dump(pid), syscall_counts(segment))
        return total

    def _control(self, action: str, pid: int) -> None:
        try:
            done = subprocess.run(
                [self.tools.control, action, str(pid)],
                capture_output=True,
                text=True,
                timeout=scaled(_DUMP_WAIT_S),
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise CostError(f"callgrind_control {action} {pid} did not answer in time") from None
        if done.returncode != 0 or "OK" not in done.stdout:
            raise CostError(
                f"callgrind_control {action} {pid} failed: {(done.stdout + done.stderr).strip()}"
            )

    def _read_dump(self, pid: int) -> int:
        """The instructions of ``pid``'s next dump, once callgrind has written it whole."""
        number = self._dumps.get(pid, 0) + 1
        path = self.folder / f"callgrind.out.{pid}.{number}"
        deadline = time.monotonic() + scaled(_DUMP_WAIT_S)
        while time.monotonic() < deadline:
            if path.exists():
                data = path.read_bytes()
                found = _SUMMARY.search(data)
                if found and b"\ntotals:" in data:
                    self._dumps[pid] = number
                    return int(found.group(1))
            time.sleep(0.05)
        raise CostError(f"callgrind wrote no dump {path.name} within {_DUMP_WAIT_S:.0f} s")


def syscall_counts(trace: bytes) -> Counter[str]:
    """Syscalls by name in a stretch of valgrind's ``--trace-syscalls`` output."""
    return Counter(match.group(1).decode() for match in _SYSCALL.finditer(trace))
