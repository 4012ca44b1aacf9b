"""Hostile clients against a live server, one outcome row per server and attack.

Every attack in :data:`ATTACKS` runs against a running
:class:`~channels_harness.servers.process.ServerProcess` and closes what it opened;
:func:`attack_server` then checks what is left: a canary connection must
still echo, and the app's live-consumer count (``GET /stats/``) must come back
to zero within a bounded wait. :func:`run_attacks` does that for every server
and attack into a :class:`~channels_harness.report.model.Run` ("attacks"
section), giving the next attack a fresh server when one died.

For the user's app (``--app``, started under each server) or running server
(``--url``), a :class:`~.victim.Victim` sends every attack to the target's
path with its handshake headers; the canary is one of the user's messages
answered, and live consumers are not measured (None).

Behaviour a server really shows (canary dead, leaked consumers) is recorded
once, in ``channels_harness/experiments/attacks/known.toml`` (see :func:`known`),
by its failure mode (:func:`failures`): an entry holds only while the server
fails the attack in exactly the recorded ways.
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from channels_harness.errors import RunError
from channels_harness.experiments.attacks import headers, hostile
from channels_harness.experiments.attacks.aftermath import (
    canary_within,
    live_consumers,
    wait_no_consumers,
)
from channels_harness.experiments.attacks.base import FULL, SMALL, Attack, Outcome, Settings
from channels_harness.experiments.attacks.flood import flood, raise_open_files
from channels_harness.experiments.attacks.victim import Victim
from channels_harness.report.rows import AttackRow
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.registry import get_spec

if TYPE_CHECKING:
    from channels_harness.experiments.target import Target
    from channels_harness.report.model import Run

__all__ = [
    "ATTACKS",
    "FAILURE_MODES",
    "FULL",
    "SMALL",
    "KnownFailure",
    "Settings",
    "attack_server",
    "failures",
    "known",
    "raise_open_files",
    "run_attacks",
]

KNOWN_FILE = Path(__file__).resolve().parent / "known.toml"

ATTACKS: dict[str, tuple[Attack, str]] = {
    "reset-mid-frame": (hostile.reset_mid_frame, "TCP reset halfway through a frame"),
    "reset-mid-handshake": (hostile.reset_mid_handshake, "TCP reset halfway through the upgrade"),
    "reset-mid-echo": (hostile.reset_mid_echo, "TCP reset while the server echoes 256 KiB"),
    "half-open": (hostile.half_open, "handshake done, then silence"),
    "abandoned-close": (hostile.abandoned_close, "close frame sent, then silence on open TCP"),
    "idle-tcp": (hostile.idle_tcp, "TCP connect, nothing sent"),
    "slow-handshake": (hostile.slow_handshake, "upgrade request sent one byte at a time"),
    "flood": (flood, "thousands of connections opened at once and held"),
    **headers.ATTACKS,
}

Progress = Callable[[str, int, int], None]


# How a server can fail an attack (see :func:`failures`).
FAILURE_MODES = {
    "died": "the server process exited",
    "canary": "a fresh connection did not echo within the settle wait",
    "leak": "consumers were still live after the settle wait",
    "stats": "the live-consumer count could not be read (GET /stats/ did not answer)",
}


@dataclass(frozen=True)
class KnownFailure:
    """A recorded failure of one server under one attack: the failure modes it shows
    (a subset of :data:`FAILURE_MODES`), what was observed and why it matters."""

    failure: frozenset[str]
    observed: str
    reason: str

    def matches(self, found: frozenset[str]) -> bool:
        """Whether a row that failed in ``found`` ways is this known failure."""
        return found == self.failure


def failures(row: AttackRow, consumers_measured: bool = True) -> frozenset[str]:
    """The ways the server failed the attack of ``row`` (empty: it did not fail):
    ``died``, ``canary``, ``leak`` and ``stats`` (see :data:`FAILURE_MODES`); the
    last two only where live consumers are ``consumers_measured``."""
    if row.outcome == "server died":
        return frozenset({"died"})
    found = set() if row.canary_ok else {"canary"}
    if consumers_measured and row.leaked_consumers is None:
        found.add("stats")
    elif consumers_measured and row.leaked_consumers:
        found.add("leak")
    return frozenset(found)


def known(path: Path = KNOWN_FILE) -> dict[tuple[str, str], KnownFailure]:
    """The recorded failures by ``(server, attack)``; ValueError naming the entry for
    an unknown attack or a failure that is not one of :data:`FAILURE_MODES`."""
    if not path.exists():
        return {}
    entries = tomllib.loads(path.read_text(encoding="utf-8")).get("known", [])
    table: dict[tuple[str, str], KnownFailure] = {}
    for entry in entries:
        attack = entry.get("attack")
        if attack not in ATTACKS:
            raise ValueError(f"{path.name}: unknown attack {attack!r}")
        modes = entry.get("failure")
        modes = [modes] if isinstance(modes, str) else modes
        if not modes or not isinstance(modes, list) or set(modes) - set(FAILURE_MODES):
            raise ValueError(
                f"{path.name}: {attack}: failure is one or more of {', '.join(FAILURE_MODES)}"
                f", not {entry.get('failure')!r}"
            )
        for server in entry["servers"]:
            table[(server, attack)] = KnownFailure(
                frozenset(modes), str(entry["observed"]), str(entry["reason"])
            )
    return table


def attack_server(
    victim: ServerProcess | Victim, attack: str, settings: Settings = SMALL
) -> AttackRow:
    """Run ``attack`` against ``victim`` (a reference-app server, or a :class:`Victim`)
    and return its row for the "attacks" section.

    The row says what the server did (``outcome``), whether a canary answered
    within ``settings.settle_s`` afterwards (``canary_s``: how long that took)
    and how many consumers were still live after up to ``settings.settle_s``
    (None when it could not be read, or is not measured).
    """
    server = victim if isinstance(victim, Victim) else Victim(victim)
    function, _description = ATTACKS[attack]
    try:
        baseline = live_consumers(server) or 0
    except (OSError, ValueError, KeyError):  # URLError is an OSError
        baseline = 0
    started = time.monotonic()
    try:
        result = function(server, settings)
    except OSError as exc:
        result = Outcome(f"{type(exc).__name__}", f"the attack could not go on: {exc}")
    seconds = round(time.monotonic() - started, 2)
    if not server.running:
        return _died(server, attack, seconds, result)
    why_not, took, first = canary_within(server, settings.settle_s)
    if why_not and not server.running:  # it was dying while the attack ended
        return _died(server, attack, seconds, result)
    leaked, waited = wait_no_consumers(server, settings.settle_s, baseline)
    detail = result.detail
    if baseline:
        detail += f"; {baseline} consumer(s) of other clients were live before the attack"
    if why_not:
        detail += f"; canary failed for {took:.0f} s: {why_not}"
    elif first:
        detail += f"; canary answered after {took:.1f} s (first try: {first})"
    if not server.counts_consumers:
        detail += "; live consumers not measured (no GET /stats/ in this app)"
    elif leaked is None:
        detail += "; GET /stats/ did not answer"
    elif leaked:
        detail += f"; {leaked} consumer(s) still live after {waited:.0f} s"
    return AttackRow(
        server=server.name,
        attack=attack,
        seconds=seconds,
        outcome=result.outcome,
        canary_ok=why_not is None,
        canary_s=round(took, 2),
        leaked_consumers=leaked,
        detail=detail,
    )


def _died(server: Victim, attack: str, seconds: float, result: Outcome) -> AttackRow:
    code = server.exit_code
    return AttackRow(
        server=server.name,
        attack=attack,
        seconds=seconds,
        outcome="server died",
        canary_ok=False,
        canary_s=None,
        leaked_consumers=None,
        detail=f"{result.outcome}; exit code {code}; log tail:\n{server.log_tail()}",
    )


def run_attacks(
    run: Run,
    *,
    servers: Sequence[str],
    attacks: Sequence[str] | None = None,
    progress: Progress | None = None,
    settings: Settings = FULL,
    target: Target | None = None,
) -> list[AttackRow]:
    """Every attack against every server (running the reference app, or ``target``'s
    app; or once against ``target``'s URL), one row each into ``run`` ("attacks").

    Each server starts fresh; after an attack that killed it the next attack
    gets a new one. A server that cannot start is a failure of the run, not
    a row. Returns the rows added.
    """
    names = list(attacks) if attacks else list(ATTACKS)
    for name in names:
        if name not in ATTACKS:
            raise KeyError(f"unknown attack {name!r}; choose from {', '.join(ATTACKS)}")
    if target is not None and target.url is not None:
        servers = ["url"]
    else:
        for name in servers:
            get_spec(name)
    raise_open_files()
    rows: list[AttackRow] = []
    total = len(servers) * len(names)
    for index, name in enumerate(servers):
        progress_at = index * len(names)
        try:
            rows += _attack_one(run, name, names, settings, target, progress, progress_at, total)
        except RunError as exc:
            run.fail("attacks", {"server": name}, str(exc))
    if progress:
        progress("done", total, total)
    return rows


def _attack_one(
    run: Run,
    name: str,
    attacks: Sequence[str],
    settings: Settings,
    target: Target | None,
    progress: Progress | None,
    done: int,
    total: int,
) -> list[AttackRow]:
    """Every attack against server ``name``, restarted fresh after one killed it."""
    rows = []
    victim: Victim | None = None
    try:
        for attack in attacks:
            if progress:
                progress(f"{name}: {attack}", done, total)
            if victim is None or not victim.running:
                if victim is not None:
                    victim.server.stop()
                victim = _victim(name, target)
                run.record_server(victim.server.info())
            row = attack_server(victim, attack, settings)
            run.add(row)
            rows.append(row)
            done += 1
    finally:
        if victim is not None:
            victim.server.stop()
    return rows


def _victim(name: str, target: Target | None) -> Victim:
    """A started server ``name`` (or ``target``'s URL) and its traffic (checked with
    one round trip for the user's target)."""
    if target is None or not target.own:
        return Victim(ServerProcess(get_spec(name)).start())
    server = target.remote() if target.url is not None else target.server(name).start()
    try:
        return Victim(server, target, target.prepare(server))
    except BaseException:
        server.stop()
        raise
