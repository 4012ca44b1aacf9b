"""What the kernel says about connections: its settings, its TCP counters, a
listener's backlog, the ephemeral port range and the memory left.

Everything here reads ``/proc`` (and ``ss`` for a listener's backlog) and
returns None where Linux does not answer, so a run on another system still
records what it can.
"""

from __future__ import annotations

import contextlib
import resource
import shutil
import subprocess
from pathlib import Path

from channels_harness.runtime import procgroup

PROC_SYS = Path("/proc/sys")
# The settings a capacity or burst figure depends on, by their sysctl names.
SETTINGS = (
    "net.core.somaxconn",
    "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.tcp_abort_on_overflow",
    "net.ipv4.tcp_syn_retries",
    "net.ipv4.tcp_synack_retries",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_tw_reuse",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_mem",
    "net.core.netdev_max_backlog",
    "fs.nr_open",
    "fs.file-max",
)
# TcpExt counters (/proc/net/netstat) that show a listen queue in trouble.
COUNTERS = (
    "ListenOverflows",
    "ListenDrops",
    "TCPSynRetrans",
    "SyncookiesSent",
    "TCPReqQFullDrop",
)


def sysctl(name: str) -> str | None:
    """The value of sysctl ``name`` (``"net.core.somaxconn"``) as text, or None."""
    try:
        return " ".join((PROC_SYS / name.replace(".", "/")).read_text().split())
    except OSError:
        return None


def settings() -> dict[str, object]:
    """Every setting of :data:`SETTINGS` and this process's open-file limits."""
    found: dict[str, object] = {name: sysctl(name) for name in SETTINGS}
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    found["RLIMIT_NOFILE"] = {"soft": soft, "hard": hard}
    return found


def ephemeral_ports() -> int:
    """How many ephemeral ports one source address has (28,232 when unreadable)."""
    text = sysctl("net.ipv4.ip_local_port_range")
    with contextlib.suppress(AttributeError, ValueError):
        low, high = (int(part) for part in (text or "").split())
        return high - low + 1
    return 28_232


def tcp_counters() -> dict[str, int] | None:
    """The :data:`COUNTERS` now (for the whole network namespace), or None."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:") and values.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return {name: int(table.get(name, 0)) for name in COUNTERS}
    return None


def counters_delta(
    before: dict[str, int] | None, after: dict[str, int] | None
) -> dict[str, int | None]:
    """``after - before`` per counter (None for each when either is unknown)."""
    if before is None or after is None:
        return dict.fromkeys(COUNTERS)
    return {name: after[name] - before[name] for name in COUNTERS}


def listen_backlog(port: int) -> int | None:
    """The backlog the kernel gave the listener on ``port`` (``ss``'s Send-Q), or None."""
    if shutil.which("ss") is None:
        return None
    popen = procgroup.spawn(["ss", "-Hlnt", f"sport = :{port}"], stdout=subprocess.PIPE, text=True)
    try:
        out, _ = popen.communicate(timeout=10)
        return int(out.split()[2])
    except (OSError, subprocess.SubprocessError, IndexError, ValueError):
        return None
    finally:
        procgroup.stop_group(popen, grace=1.0)


def memory_available() -> int | None:
    """MemAvailable from /proc/meminfo, in bytes, or None."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
