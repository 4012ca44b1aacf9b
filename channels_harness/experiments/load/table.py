"""The comparison table of a load run: one line per cell, ratios measured in the same run.

A cell measured several times (``--repeat``) shows the median of each figure
and the spread of its rate (half the range over the median, ``±x%``); the
generator CPU is the highest seen. Ratios compare the steady request rate
(msgs/s, or handshakes/s for churn): ``/sync`` is the cell over the same
server's ``sync`` cell (Sync vs Async), ``/<server>`` the cell over the first
server's cell of the same flavour, and ``/raw`` the cell over the raw echo
baseline (what the client reaches with no ASGI and no Django in the way).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from rich import box
from rich.table import Table

from channels_harness.report.rows import LocustRow

RAW = "raw-echo"


def ratio(value: float, reference: float | None) -> str:
    """``value / reference`` as ``"1.23x"``, or ``"-"`` with no usable reference."""
    if not reference:
        return "-"
    return f"{value / reference:.2f}x"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


@dataclass
class LoadCell:
    """One (scenario, server, flavour) over its repeats: medians, failures summed,
    the highest generator CPU, and the rate's ``spread`` (half the range over the median)."""

    scenario: str
    server: str
    flavour: str
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


def _cpu(row: LoadCell) -> str:
    share = row.generator_cpu
    if share is None:
        return "?"
    mark = "!" if row.generator_bound else ""
    return f"{share:.0%}{mark}"


def _float(value: int | None) -> float | None:
    return None if value is None else float(value)


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def aggregate(rows: Sequence[LocustRow]) -> list[LoadCell]:
    """One cell per (scenario, server, flavour), in first-seen order."""
    groups: dict[tuple[str, str, str], list[LocustRow]] = {}
    for row in rows:
        groups.setdefault((row.scenario, row.server, row.flavour), []).append(row)
    out = []
    for (scenario, server, flavour), members in groups.items():
        rates = [float(m.msgs_per_s) for m in members]
        median_rate = statistics.median(rates)
        cpus = [m.generator_cpu for m in members if m.generator_cpu is not None]
        out.append(
            LoadCell(
                scenario=scenario,
                server=server,
                flavour=flavour,
                msgs_per_s=median_rate,
                p50_ms=_median([m.p50_ms for m in members]),
                p95_ms=_median([m.p95_ms for m in members]),
                p99_ms=_median([m.p99_ms for m in members]),
                failures=sum(int(m.failures) for m in members),
                generator_cpu=max(cpus) if cpus else None,
                generator_bound=any(m.generator_bound for m in members),
                server_cpu=_median([m.server_cpu for m in members]),
                repeats=len(members),
                spread=(max(rates) - min(rates)) / 2 / median_rate if median_rate else 0.0,
                connections=_median([float(m.handshakes) for m in members]),
                rss_per_connection=_median(
                    [
                        None
                        if m.rss_per_connection_bytes is None
                        else float(m.rss_per_connection_bytes)
                        for m in members
                    ]
                ),
            )
        )
    return out


def comparison_rows(rows: Sequence[LocustRow]) -> list[dict[str, str]]:
    """The table's cells as strings, one per cell (repeats aggregated), in first-seen order."""
    cells = aggregate(rows)
    rate = {(r.scenario, r.server, r.flavour): r.msgs_per_s for r in cells}
    servers = [r.server for r in cells if r.server != RAW]
    first = servers[0] if servers else None
    out = []
    for row in cells:
        scenario, server, flavour = row.scenario, row.server, row.flavour
        value = row.msgs_per_s
        raw = rate.get((scenario, RAW, "none"))
        is_raw = server == RAW
        spread = f" ±{row.spread:.0%}" if row.repeats > 1 else ""
        out.append(
            {
                "cell": f"{server} {flavour}",
                "rate": f"{value:.0f}{spread}",
                "p50": _ms(row.p50_ms),
                "p95": _ms(row.p95_ms),
                "p99": _ms(row.p99_ms),
                "failures": str(row.failures),
                "generator CPU": _cpu(row),
                "server CPU": "?" if row.server_cpu is None else f"{row.server_cpu:.0%}",
                "vs sync": "-"
                if is_raw or flavour == "sync"
                else ratio(value, rate.get((scenario, server, "sync"))),
                "vs first server": "-"
                if is_raw or server == first
                else ratio(value, rate.get((scenario, first or "", flavour))),
                "vs raw": "-" if is_raw else ratio(value, raw),
                "connections": "-" if row.connections is None else f"{row.connections:.0f}",
                "KB/conn": "-"
                if row.rss_per_connection is None
                else f"{row.rss_per_connection / 1024:.1f}",
            }
        )
    return out


def comparison_table(rows: Sequence[LocustRow], title: str = "locust load") -> Table:
    """A rich table of :func:`comparison_rows`."""
    lines = comparison_rows(rows)
    servers = [r.server for r in rows if r.server != RAW]
    first = servers[0] if servers else "first server"
    kind = "handshakes/s" if rows and rows[0].scenario == "churn" else "msgs/s"
    memory = any(r.rss_per_connection_bytes is not None for r in rows)
    caption = (
        "p50/p95/p99 in ms; gen(erator) and s(e)rv(er) CPU as a share of one core, "
        "! = generator-bound; /x = rate over x's rate in this run"
    )
    if memory:
        caption += "; KB/conn = server memory growth per open connection"
    table = Table(title=title, caption=caption, box=box.SIMPLE_HEAD, collapse_padding=True)
    headers = {
        "cell": "server flavour",
        "rate": kind,
        "p50": "p50",
        "p95": "p95",
        "p99": "p99",
        "failures": "fail",
        "generator CPU": "gen",
        "server CPU": "srv",
        "vs sync": "/sync",
        "vs first server": f"/{first}",
        "vs raw": "/raw",
    }
    if memory:
        headers.update({"connections": "conns", "KB/conn": "KB/conn"})
    for key, header in headers.items():
        table.add_column(header, justify="left" if key == "cell" else "right")
    for line in lines:
        table.add_row(*(line[key] for key in headers))
    return table
