"""Cost ratios: what the valgrind counts say about sync against async and server
against server, beside what wall clock says about the same pairs.

Each :class:`CostRatioRow` is ``top / bottom``: instructions per message and
syscalls per message from the cost rows (:class:`~channels_harness.report.rows.CostRow`,
the reference echo on one connection), and, when the run also timed the same
pair, the wall-clock ratio (time per message: the bottom's msgs/s over the
top's, at the bench headline cell) and the server CPU time per message ratio.
Every ratio reads the same way: above 1, a message costs ``top`` more.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from channels_harness.report.rows import CostRow, Row, ThroughputRow, unstacked
from channels_harness.report.summary import SYNC_ASYNC_PAIRS, headline_rows

Data = Mapping[str, Any]


@dataclass(kw_only=True)
class CostRatioRow(Row):
    """``top / bottom`` by each measure (None where a side lacks it)."""

    SECTION: ClassVar[str] = "cost_ratios"
    pair: str
    top: str
    bottom: str
    instructions: float | None = None
    syscalls: float | None = None
    wall_clock: float | None = None
    server_cpu: float | None = None


def _measured(data: Data) -> dict[tuple[str, str], CostRow]:
    """The reference echo's counted rows by (server, flavour)."""
    return {
        (r.server, r.flavour): r
        for r in unstacked(data, CostRow)
        if r.scenario == "echo" and r.instructions_per_msg and not r.error
    }


def _over(top: float | None, bottom: float | None) -> float | None:
    return round(top / bottom, 3) if top and bottom else None


def _row(
    pair: str,
    top: tuple[str, str],
    bottom: tuple[str, str],
    counted: dict[Any, CostRow],
    timed: dict[Any, ThroughputRow],
) -> CostRatioRow:
    upper, lower = counted[top], counted[bottom]
    fast, slow = timed.get(bottom), timed.get(top)
    return CostRatioRow(
        pair=pair,
        top=" ".join(top),
        bottom=" ".join(bottom),
        instructions=_over(upper.instructions_per_msg, lower.instructions_per_msg),
        syscalls=_over(upper.syscalls_per_msg, lower.syscalls_per_msg),
        wall_clock=_over(fast.msgs_per_s, slow.msgs_per_s) if fast and slow else None,
        server_cpu=_over(
            slow.server_cpu_us_per_msg if slow else None,
            fast.server_cpu_us_per_msg if fast else None,
        ),
    )


def cost_ratios(data: Data) -> list[CostRatioRow]:
    """Sync over async per server, then per flavour every server over the cheapest."""
    counted = _measured(data)
    timed = {(r.server, r.flavour): r for r in headline_rows(data)}
    rows = []
    servers = sorted({server for server, _ in counted})
    for server in servers:
        for sync, asynchronous in SYNC_ASYNC_PAIRS:
            if (server, sync) in counted and (server, asynchronous) in counted:
                pair = f"{sync} / {asynchronous}"
                rows.append(_row(pair, (server, sync), (server, asynchronous), counted, timed))
    by_flavour: dict[str, list[str]] = defaultdict(list)
    for server, flavour in counted:
        by_flavour[flavour].append(server)
    for flavour, names in sorted(by_flavour.items()):
        cheapest = min(names, key=lambda s: float(counted[(s, flavour)].instructions_per_msg or 0))
        for server in sorted(names):
            if server != cheapest:
                pair = "server / server"
                rows.append(_row(pair, (server, flavour), (cheapest, flavour), counted, timed))
    return rows
