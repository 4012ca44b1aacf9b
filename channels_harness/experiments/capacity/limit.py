"""Which limit ended a climb, whose it is, and how the server met it.

Pure decisions over what one level showed (:class:`LevelEvidence`): the
climb asks :func:`decide` after every level and stops at the first limit;
:func:`behaviour` names what the server did there. The server's own limits
come first: a level that shows one is never blamed on the experiment.
"""

from __future__ import annotations

from dataclasses import dataclass

from channels_harness.generators.engine.hold import CanaryReport, OpenReport, SweepReport
from channels_harness.generators.engine.idle import CLIENT_SIDE_FAILURES

# Whose limit each kind is: the server's (or its app's), the machine's, or
# the experiment's own bound.
LIMIT_SIDES: dict[str, str] = {
    "died": "server",
    "dropped": "server",
    "refused": "server",
    "fd-limit": "server",
    "unresponsive": "server",
    "slow-accept": "server",
    "memory": "machine",
    "target": "experiment",
    "time budget": "experiment",
    "generator": "experiment",
}
# Descriptors the server keeps for itself (logs, pipes, the listener, Redis).
FD_HEADROOM = 32
# Failure kinds that are the server saying no (or hanging up) at once.
CLEAN_REFUSALS = ("refused", "reset", "http ", "handshake error")


@dataclass(frozen=True)
class Limit:
    """A limit: its kind (a key of :data:`LIMIT_SIDES`), what the level showed, and
    whose it is when not the kind's usual side."""

    kind: str
    reason: str
    whose: str | None = None

    @property
    def side(self) -> str:
        return self.whose or LIMIT_SIDES[self.kind]


@dataclass(frozen=True)
class LevelEvidence:
    """What one level of the climb showed."""

    level: int
    opened: OpenReport
    sweep: SweepReport
    canary: CanaryReport
    dropped_before: int
    server_exit: int | None
    rss_bytes: int | None
    open_fds: int | None
    nofile: int | None
    # The hard open-file limit of this machine when it is below what the plan
    # needs (None: the harness could give the server all it needs).
    machine_nofile: int | None = None


def _fd_limit(ev: LevelEvidence, kinds: str) -> Limit:
    """The server ran out of descriptors: its own limit, or the machine's when its
    limit is the hard limit the harness could not raise to what the plan needs."""
    reason = (
        f"handshakes failed ({kinds}) with {ev.open_fds} descriptors open: the server's "
        f"open-file limit is {ev.nofile}"
    )
    if ev.nofile and ev.machine_nofile and ev.nofile >= ev.machine_nofile:
        return Limit(
            "fd-limit",
            f"{reason}, the hard limit here (raising it needs root with CAP_SYS_RESOURCE or "
            "a higher `ulimit -Hn`)",
            whose="machine",
        )
    return Limit("fd-limit", reason)


def _kinds(failures: dict[str, int]) -> str:
    return ", ".join(f"{count} {kind}" for kind, count in sorted(failures.items()))


def _server_limit(ev: LevelEvidence) -> Limit | None:
    held = ev.opened.held
    if ev.server_exit is not None:
        return Limit("died", f"the server exited (code {ev.server_exit}) at {held} connections")
    dropped = max(ev.opened.dropped_total, ev.sweep.dropped_total) - ev.dropped_before
    if dropped:
        return Limit("dropped", f"the server dropped {dropped} open connections at {held}")
    if ev.sweep.unanswered or ev.canary.errors:
        what = []
        if ev.sweep.unanswered:
            what.append(f"{ev.sweep.unanswered} of {ev.sweep.pinged} pings unanswered")
        if ev.canary.errors:
            what.append(f"the canary failed ({ev.canary.error})")
        return Limit("unresponsive", f"{'; '.join(what)} at {held} connections")
    if ev.opened.stopped == "failures":
        kinds = _kinds(ev.opened.failures)
        if ev.open_fds is not None and ev.nofile and ev.open_fds >= ev.nofile - FD_HEADROOM:
            return _fd_limit(ev, kinds)
        return Limit("refused", f"{ev.opened.failed} handshakes failed at {held} ({kinds})")
    return None


def decide(ev: LevelEvidence, min_accept_rate: float, memory_budget: int | None) -> Limit | None:
    """The limit this level reached, or None to climb on (the generator already
    stopped the level when the server kept failing handshakes). The server's own
    limits come first: a server that died, dropped connections or stopped
    answering is named so even when the generator ran out at the same level."""
    server = _server_limit(ev)
    if server is not None:
        return server
    if ev.opened.stopped == "client":
        return Limit(
            "generator",
            f"the generator could not open more ({_kinds(ev.opened.failures)}) at "
            f"{ev.opened.held} connections",
        )
    if memory_budget is not None and ev.rss_bytes is not None and ev.rss_bytes > memory_budget:
        return Limit(
            "memory",
            f"server RSS {ev.rss_bytes / 2**30:.1f} GiB passed the memory budget "
            f"({memory_budget / 2**30:.1f} GiB) at {ev.opened.held} connections",
        )
    if ev.opened.stopped == "deadline":
        return Limit(
            "time budget",
            f"the time budget ran out at {ev.opened.held} connections (the server was "
            f"taking {ev.opened.accept_rate:.0f} connections/s)",
        )
    if ev.opened.opened and ev.opened.accept_rate < min_accept_rate:
        return Limit(
            "slow-accept",
            f"the server accepted {ev.opened.accept_rate:.1f} connections/s (under "
            f"{min_accept_rate:g}/s) on the way to {ev.level}",
        )
    return None


def behaviour(
    limit: Limit,
    server_alive: bool,
    dropped: int,
    probe_opened: int,
    probe_failures: dict[str, int],
    held_ok: bool,
) -> str:
    """How the server met ``limit``: a short phrase for the report.

    ``probe_*``: fresh connection attempts at the limit; ``held_ok``: every
    held connection answered a ping and the canary echoed.
    """
    if limit.side == "experiment":
        return "no server limit reached"
    if not server_alive:
        return "dies"
    if dropped:
        return "drops connections"
    if not held_ok:
        return "stalls"
    server_said = {k: n for k, n in probe_failures.items() if k not in CLIENT_SIDE_FAILURES}
    failed = sum(server_said.values())
    if not failed:
        if probe_failures and not probe_opened:
            return "not probed (the generator could not open more)"
        return "keeps accepting"
    clean = sum(count for kind, count in probe_failures.items() if kind.startswith(CLEAN_REFUSALS))
    if clean == failed and not probe_opened:
        return "refuses cleanly"
    if clean == failed:
        return "refuses some"
    return "stops accepting"
