"""What a result records about where and with what it was measured."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
from typing import Any

from channels_harness.runtime.paths import PROJECT_DIR

# Every distribution whose version can change a figure or a grade.
TRACKED_DISTRIBUTIONS = (
    "channels-harness",
    "django",
    "channels",
    "channels-redis",
    "asgiref",
    "daphne",
    "twisted",
    "autobahn",
    "uvicorn",
    "uvloop",
    "httptools",
    "websockets",
    "wsproto",
    "h11",
    "hypercorn",
    "granian",
    "picows",
    "websocket-client",
    "locust",
    "gevent",
    "hdrhistogram",
    "pytest",
    "pytest-benchmark",
    "redis",
)


def versions() -> dict[str, str]:
    """Installed version of every tracked distribution (``"not installed"`` if absent)."""
    found = {}
    for name in TRACKED_DISTRIBUTIONS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> dict[str, Any]:
    """The project's commit and whether the work tree had uncommitted changes."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=10
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit or None, "dirty": dirty if commit else None}


def describe() -> dict[str, Any]:
    """The environment block of a result."""
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_available": sorted(os.sched_getaffinity(0)),
        "memory_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        "os": platform.platform(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "git": git_commit(),
        "versions": versions(),
    }
