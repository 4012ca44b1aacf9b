"""The comparison table of a load run: one line per cell, ratios measured in the same run.

Ratios compare the steady request rate (msgs/s, or handshakes/s for churn):
``vs sync`` is the cell over the same server's ``sync`` cell (Sync vs Async),
``vs <server>`` the cell over the first server's cell of the same flavour, and
``vs raw`` the cell over the raw echo baseline (what the client reaches with
no ASGI and no Django in the way).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich import box
from rich.table import Table

RAW = "raw-echo"


def ratio(value: float, reference: float | None) -> str:
    """``value / reference`` as ``"1.23x"``, or ``"-"`` with no usable reference."""
    if not reference:
        return "-"
    return f"{value / reference:.2f}x"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _cpu(row: dict[str, Any]) -> str:
    share = row.get("generator_cpu")
    if share is None:
        return "?"
    mark = "!" if row.get("generator_bound") else ""
    return f"{share:.0%}{mark}"


def comparison_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """The table's cells as strings, in the order of ``rows``."""
    rate = {(r["scenario"], r["server"], r["flavour"]): r["msgs_per_s"] for r in rows}
    servers = [r["server"] for r in rows if r["server"] != RAW]
    first = servers[0] if servers else None
    out = []
    for row in rows:
        scenario, server, flavour = row["scenario"], row["server"], row["flavour"]
        value = row["msgs_per_s"]
        raw = rate.get((scenario, RAW, "none"))
        is_raw = server == RAW
        out.append(
            {
                "cell": f"{server} {flavour}",
                "rate": f"{value:.0f}",
                "p50": _ms(row.get("p50_ms")),
                "p95": _ms(row.get("p95_ms")),
                "p99": _ms(row.get("p99_ms")),
                "failures": str(row["failures"]),
                "generator CPU": _cpu(row),
                "server CPU": "?" if row.get("server_cpu") is None else f"{row['server_cpu']:.0%}",
                "vs sync": "-"
                if is_raw or flavour == "sync"
                else ratio(value, rate.get((scenario, server, "sync"))),
                "vs first server": "-"
                if is_raw or server == first
                else ratio(value, rate.get((scenario, first, flavour))),
                "vs raw": "-" if is_raw else ratio(value, raw),
            }
        )
    return out


def comparison_table(rows: Sequence[dict[str, Any]], title: str = "locust load") -> Table:
    """A rich table of :func:`comparison_rows`."""
    lines = comparison_rows(rows)
    servers = [r["server"] for r in rows if r["server"] != RAW]
    first = servers[0] if servers else "first server"
    kind = "handshakes/s" if rows and rows[0]["scenario"] == "churn" else "msgs/s"
    table = Table(
        title=title,
        caption="p50/p95/p99 in ms; gen(erator) and s(e)rv(er) CPU as a share of one core, "
        "! = generator-bound; /x = rate over x's rate in this run",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
    )
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
    for key, header in headers.items():
        table.add_column(header, justify="left" if key == "cell" else "right")
    for line in lines:
        table.add_row(*(line[key] for key in headers))
    return table
