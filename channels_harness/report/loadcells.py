"""The comparison view of a locust load run: one cell per scenario, server and
flavour, repeats folded together, ratios measured in the same run.

A cell measured several times (``--repeat``) shows the median of each figure
and the spread of its rate (half the range over the median, ``±x%``); the
generator CPU is the highest seen. Ratios compare the steady request rate
(msgs/s, or handshakes/s for churn): ``/sync`` is the cell over the same
server's ``sync`` cell (Sync vs Async), ``/<server>`` the cell over the first
server's cell of the same flavour, and ``/raw`` the cell over the raw echo
baseline (what the client reaches with no ASGI and no Django in the way).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from channels_harness.report.rows import LocustRow, Row
from channels_harness.runtime.stats import median_of_present

RAW = "raw-echo"


@dataclass(kw_only=True)
class LoadCell(Row):
    """One (scenario, server, flavour) over its repeats, with its ratios (None: no reference)."""

    SECTION: ClassVar[str] = ""
    scenario: str
    server: str
    flavour: str
    step: str
    msgs_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    failures: int
    generator_cpu: float | None
    generator_bound: bool
    server_cpu: float | None
    repeats: int
    spread: float
    connections: float | None
    rss_per_connection: float | None
    vs_sync: float | None = None
    vs_first: float | None = None
    vs_raw: float | None = None


def _float(value: int | None) -> float | None:
    return None if value is None else float(value)


def _fold(members: list[LocustRow]) -> LoadCell:
    first = members[0]
    rates = [float(m.msgs_per_s) for m in members]
    rate = median_of_present(rates) or 0.0
    cpus = [m.generator_cpu for m in members if m.generator_cpu is not None]
    return LoadCell(
        scenario=first.scenario,
        server=first.server,
        flavour=first.flavour,
        step=step_label(first),
        msgs_per_s=rate,
        p50_ms=median_of_present([m.p50_ms for m in members]),
        p95_ms=median_of_present([m.p95_ms for m in members]),
        p99_ms=median_of_present([m.p99_ms for m in members]),
        failures=sum(int(m.failures) for m in members),
        generator_cpu=max(cpus) if cpus else None,
        generator_bound=any(m.generator_bound for m in members),
        server_cpu=median_of_present([m.server_cpu for m in members]),
        repeats=len(members),
        spread=(max(rates) - min(rates)) / 2 / rate if rate else 0.0,
        connections=median_of_present([float(m.handshakes) for m in members]),
        rss_per_connection=median_of_present(
            [
                None if m.rss_per_connection_bytes is None else float(m.rss_per_connection_bytes)
                for m in members
            ]
        ),
    )


def step_label(row: LocustRow) -> str:
    """A row's step as a table shows it: the name, with its request type unless ``WS``
    ("" for a row of a bundled scenario)."""
    if row.step is None:
        return ""
    kind = f" ({row.request_type})" if row.request_type not in ("", "WS") else ""
    return f"{row.step}{kind}"


def _over(value: float, reference: float | None) -> float | None:
    return value / reference if reference else None


def load_cells(rows: Sequence[LocustRow]) -> list[LoadCell]:
    """One cell per (scenario, server, flavour, step) in first-seen order, with its ratios."""
    groups: dict[tuple[str, str, str, str], list[LocustRow]] = {}
    for row in rows:
        groups.setdefault((row.scenario, row.server, row.flavour, step_label(row)), []).append(row)
    cells = [_fold(members) for members in groups.values()]
    rate = {(c.scenario, c.server, c.flavour, c.step): c.msgs_per_s for c in cells}
    servers = [c.server for c in cells if c.server != RAW]
    first = servers[0] if servers else None
    for cell in cells:
        if cell.server == RAW:
            continue
        if cell.flavour != "sync":
            sync = (cell.scenario, cell.server, "sync", cell.step)
            cell.vs_sync = _over(cell.msgs_per_s, rate.get(sync))
        if cell.server != first:
            same = (cell.scenario, first or "", cell.flavour, cell.step)
            cell.vs_first = _over(cell.msgs_per_s, rate.get(same))
        cell.vs_raw = _over(cell.msgs_per_s, rate.get((cell.scenario, RAW, "none", cell.step)))
    return cells
