"""Which stacks a ``versions`` run measures, from its ``--with NAME==VERSION`` options.

Each ``--with`` names one release of one distribution. The releases of one
distribution are alternatives; a stack takes one release of each. With
``combine="product"`` every combination is a stack (two channels releases and
two uvicorn releases make four stacks); with ``combine="each"`` the first stack
takes every distribution's first release and each further stack changes one
distribution to one other release, so each change is measured alone against
the first stack. Everything a stack does not name keeps its pinned version
from requirements.lock.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from channels_harness.errors import UsageError

COMBINE = ("product", "each")

# PEP 508 distribution name, then ``==`` and a PEP 440 version (no wildcard).
_SPEC = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*(?P<version>[^\s=*,;]+)\s*$")

# The load generators and test runners: the same in every stack unless a --with
# names them, so a row's ``stack`` leaves them out (the environment block has them).
TOOLING = frozenset(
    {
        "channels-harness",
        "picows",
        "websocket-client",
        "locust",
        "gevent",
        "hdrhistogram",
        "pytest",
        "pytest-benchmark",
    }
)


def canonical(name: str) -> str:
    """A distribution name as PEP 503 normalises it (``Channels_Redis`` -> ``channels-redis``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Pin:
    """One distribution at one exact version."""

    name: str
    version: str

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


@dataclass(frozen=True)
class Stack:
    """The pins one environment overrides; the rest comes from requirements.lock.

    ``varied`` names the distributions whose release differs between the stacks of
    a run: the label shows only those (every pin when none is named)."""

    pins: tuple[Pin, ...]
    varied: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """``channels 4.2.2, uvicorn 0.49.0``, or ``pinned`` for a stack that overrides nothing."""
        shown = [pin for pin in self.pins if pin.name in self.varied] or self.pins
        return ", ".join(f"{pin.name} {pin.version}" for pin in shown) or "pinned"

    @property
    def names(self) -> frozenset[str]:
        return frozenset(pin.name for pin in self.pins)

    def stack_of(self, installed: dict[str, str]) -> dict[str, str]:
        """The ``stack`` field of this stack's rows, from the versions its environment has:
        every tracked distribution that is installed, less the tooling (unless pinned here)."""
        return {
            name: version
            for name, version in installed.items()
            if version != "not installed" and (name not in TOOLING or name in self.names)
        }


def parse_with(specs: Sequence[str]) -> dict[str, list[str]]:
    """``["channels==4.2.2", "channels==4.3.2"]`` -> ``{"channels": ["4.2.2", "4.3.2"]}``,
    in the order given, duplicates dropped; anything but ``NAME==VERSION`` is a UsageError."""
    groups: dict[str, list[str]] = {}
    for spec in specs:
        match = _SPEC.match(spec)
        if match is None:
            raise UsageError(
                f"--with {spec!r}: give one exact release as NAME==VERSION "
                "(for example --with channels==4.2.2)"
            )
        versions = groups.setdefault(canonical(match["name"]), [])
        if match["version"] not in versions:
            versions.append(match["version"])
    return groups


def stacks(groups: dict[str, list[str]], combine: str = "product") -> list[Stack]:
    """The stacks to measure, the first one first (see the module doc for ``combine``)."""
    if combine not in COMBINE:
        raise UsageError(f"--combine {combine!r}: choose from {', '.join(COMBINE)}")
    names = list(groups)
    varied = tuple(name for name in names if len(groups[name]) > 1)
    if combine == "product":
        choices = itertools.product(*(groups[name] for name in names))
        return [
            Stack(tuple(Pin(n, v) for n, v in zip(names, versions, strict=True)), varied)
            for versions in choices
        ]
    first = {name: groups[name][0] for name in names}
    found = [first]
    for name in varied:
        for version in groups[name][1:]:
            found.append({**first, name: version})
    return [Stack(tuple(Pin(n, chosen[n]) for n in names), varied) for chosen in found]
