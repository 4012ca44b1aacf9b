"""py-spy's raw output read into typed samples.

``py-spy record --format raw --threads --subprocesses`` writes one line per
distinct stack: frames from the root to the leaf joined by ``;``, a space and
the number of samples. The first frames name the process (``process PID:"command"``,
nested for a child of a child) and the thread (``thread (TID): name``); the
rest are Python frames, ``function (file:line)``. :func:`parse_raw` turns the
text into :class:`Sample` s whose frames carry the dotted module each file
belongs to (:func:`module_of`), which is what the attribution rules match on.
"""

from __future__ import annotations

import re
import sysconfig
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from channels_harness.runtime.paths import PROJECT_DIR, TARGET_APP_DIR

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")
# A process frame, up to the quote before the next process or thread frame.
_PROCESS = re.compile(r'process (?P<pid>\d+):".*?";(?=process \d+:"|thread \()', re.DOTALL)
_THREAD = re.compile(r"^thread \((?P<tid>\d+)\)(?:: (?P<name>.*))?$")


@dataclass(frozen=True)
class Frame:
    """One Python frame: function, file, and the dotted module of that file."""

    function: str
    file: str
    module: str

    @property
    def method(self) -> str:
        """The last part of the qualified function name (``send`` of ``Protocol.send``)."""
        return self.function.rsplit(".", 1)[-1]

    @property
    def label(self) -> str:
        """How a flame graph names the frame: ``function (module)``."""
        return f"{self.function} ({self.module})"


@dataclass(frozen=True)
class Sample:
    """A stack seen ``count`` times in one thread of one process, frames root first."""

    pid: int
    thread: str
    frames: tuple[Frame, ...]
    count: int

    @property
    def leaf(self) -> Frame | None:
        """The innermost frame (None for a thread with no Python frame)."""
        return self.frames[-1] if self.frames else None


@cache
def _roots() -> tuple[tuple[str, str], ...]:
    """Directories whose files are named by their path below them, longest first,
    each with the prefix its modules get."""
    paths = sysconfig.get_paths()
    roots = {
        str(TARGET_APP_DIR): "",
        str(PROJECT_DIR): "",
        paths["stdlib"]: "",
        paths["platstdlib"]: "",
    }
    return tuple(sorted(roots.items(), key=lambda item: -len(item[0])))


@cache
def module_of(file: str) -> str:
    """The dotted module a frame's file is (``uvicorn.protocols.http.h11_impl``,
    ``asyncio.base_events``, ``wsapp.echo``); ``<frozen runpy>`` is ``runpy``; a
    file outside every known root keeps its path."""
    if file.startswith("<frozen ") and file.endswith(">"):
        return file[len("<frozen ") : -1]
    if file.startswith("<"):
        return file
    relative: str | None = None
    if "/site-packages/" in file:
        relative = file.rsplit("/site-packages/", 1)[1]
    else:
        for root, prefix in _roots():
            if file.startswith(root.rstrip("/") + "/"):
                relative = prefix + file[len(root.rstrip("/")) + 1 :]
                break
    if relative is None:
        return file
    parts = list(Path(relative).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def parse_frame(text: str) -> Frame:
    """One ``function (file:line)`` frame (the line number is dropped)."""
    match = _FRAME.match(text)
    if match is None:
        return Frame(function=text, file="", module="")
    file = match.group("file")
    return Frame(function=match.group("function"), file=file, module=module_of(file))


def _split_processes(stack: str) -> tuple[int | None, str]:
    """The innermost ``process PID:"command"`` frame's pid and the stack after the
    process frames (a command line may itself hold ``;`` and quotes)."""
    pid = None
    while match := _PROCESS.match(stack):
        pid = int(match.group("pid"))
        stack = stack[match.end() :]
    return pid, stack


def parse_line(line: str, default_pid: int = 0) -> Sample | None:
    """One line of raw output, or None for a line that is not a stack."""
    stack, _, count = line.rstrip("\n").rpartition(" ")
    if not stack or not count.isdigit():
        return None
    pid, stack = _split_processes(stack)
    thread = ""
    parts = stack.split(";") if stack else []
    if parts and (match := _THREAD.match(parts[0])):
        thread = f"{match.group('tid')} {match.group('name') or ''}".strip()
        parts = parts[1:]
    return Sample(
        pid=default_pid if pid is None else pid,
        thread=thread,
        frames=tuple(parse_frame(part) for part in parts),
        count=int(count),
    )


def parse_raw(text: str, default_pid: int = 0) -> list[Sample]:
    """Every stack of a raw py-spy file; ``default_pid`` for output without process frames."""
    return [s for line in text.splitlines() if (s := parse_line(line, default_pid)) is not None]
