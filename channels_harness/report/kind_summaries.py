"""What a run's summary says beyond the benchmark's ratios: one paragraph per kind
of measurement the run holds (the thresholds, locust load, fan-out, scaling,
capacity, soak), each in Markdown lines, from data.json alone.

A run of any kind (``load``, ``fanout``, ``scaling``, ``limits``, ``soak``, or
``all``, which holds them all) gets the paragraphs of the rows it has, so its
summary says what it found instead of "No measurements finished".
:func:`thresholds` comes first in the summary; :func:`paragraphs` after the
benchmark's verdict.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from channels_harness.report.columns import fmt
from channels_harness.report.loadcells import RAW, LoadCell, load_cells
from channels_harness.report.rows import (
    AtLimitRow,
    FanoutRow,
    LimitsRow,
    LocustRow,
    ScalingRow,
    SoakSummaryRow,
    ThresholdRow,
    unstacked,
)
from channels_harness.report.thresholds import failed

Data = Mapping[str, Any]


def _kb(value: int | None) -> str:
    return "" if value is None else f", {value / 1000:.0f} KB each"


def thresholds(data: Data) -> list[str]:
    """How many thresholds the run met, and each one it missed with its cells."""
    rows = unstacked(data, ThresholdRow)
    if not rows:
        return []
    missed = failed(rows)
    if not missed:
        return [f"**Thresholds**: all {len(rows)} met (the Thresholds section below).", ""]
    lines = [
        f"**Thresholds**: {len(missed)} of {len(rows)} missed (the Thresholds section lists "
        "every cell that missed):",
        "",
    ]
    lines += [f"- **{row.threshold}**: {row.reason}" for row in missed]
    return [*lines, ""]


def locust(data: Data) -> list[str]:
    """Per locust scenario: the fastest and slowest cells, Sync vs Async, failures."""
    cells = load_cells(unstacked(data, LocustRow))
    by_scenario: dict[str, list[LoadCell]] = defaultdict(list)
    for cell in cells:
        by_scenario[cell.scenario].append(cell)
    lines = []
    for scenario, found in by_scenario.items():
        lines.append(f"- {scenario}: {_locust_line(found)}")
    if not lines:
        return []
    return ["**Locust** (requests per second of each cell, median of its repeats):", "", *lines, ""]


def _locust_line(cells: Sequence[LoadCell]) -> str:
    served = sorted((c for c in cells if c.server != RAW), key=lambda c: -c.msgs_per_s)
    parts = []
    if served:
        fastest, slowest = served[0], served[-1]
        parts.append(f"fastest {_cell(fastest)}")
        if slowest is not fastest:
            parts.append(f"slowest {_cell(slowest)}")
    ratios = [f"{c.server} {c.vs_sync:.2f}x" for c in served if c.flavour == "async" and c.vs_sync]
    if ratios:
        parts.append("async / sync " + ", ".join(sorted(ratios)))
    raw = [c for c in cells if c.server == RAW]
    if raw:
        parts.append(f"the raw echo baseline {fmt(raw[0].msgs_per_s)}/s")
    failures = sum(c.failures for c in cells)
    parts.append(f"{failures} failed requests" if failures else "no failed requests")
    return "; ".join(parts) + "."


def _cell(cell: LoadCell) -> str:
    p99 = "" if cell.p99_ms is None else f", p99 {fmt(cell.p99_ms)} ms"
    bound = " (generator-bound)" if cell.generator_bound else ""
    return f"{cell.server} {cell.flavour} {fmt(cell.msgs_per_s)}/s{p99}{bound}"


def fanout(data: Data) -> list[str]:
    """Per channel layer: the best delivery rate, the p99 range at the largest room,
    and the deliveries lost."""
    rows = unstacked(data, FanoutRow)
    by_layer: dict[str, list[FanoutRow]] = defaultdict(list)
    for row in rows:
        by_layer[row.layer].append(row)
    lines = []
    for layer, found in by_layer.items():
        best = max(found, key=lambda r: r.deliveries_per_s)
        largest = max(r.group_size for r in found)
        room = [r for r in found if r.group_size == largest and r.p99_ms is not None]
        text = (
            f"- {layer}: best {fmt(best.deliveries_per_s)} deliveries/s ({best.server} "
            f"{best.flavour}, {best.group_size} members)"
        )
        if room:
            low = min(room, key=lambda r: float(r.p99_ms or 0))
            high = max(room, key=lambda r: float(r.p99_ms or 0))
            text += (
                f"; p99 with {largest} members from {fmt(low.p99_ms)} ms ({low.server} "
                f"{low.flavour}) to {fmt(high.p99_ms)} ms ({high.server} {high.flavour})"
            )
        lost = sum(r.lost for r in found)
        text += f"; {lost} deliveries lost." if lost else "; no delivery lost."
        lines.append(text)
    if not lines:
        return []
    return [
        "**Fan-out** (one member broadcasts to a room through the channel layer):",
        "",
        *lines,
        "",
    ]


def scaling(data: Data) -> list[str]:
    """Per pinning, server and flavour: msgs/s with the most server processes over one."""
    groups: dict[tuple[str, str, str], dict[int, ScalingRow]] = defaultdict(dict)
    for row in unstacked(data, ScalingRow):
        groups[(row.pinning, row.server, row.flavour)][row.processes] = row
    lines = []
    for (pinning, server, flavour), by_processes in groups.items():
        most = max(by_processes)
        one, top = by_processes.get(1), by_processes[most]
        if one is None or most == 1 or not one.msgs_per_s:
            continue
        where = f"{pinning}: " if pinning else ""
        lines.append(
            f"- {where}{server} {flavour}, {most} processes over 1: "
            f"{top.msgs_per_s / one.msgs_per_s:.2f}x ({fmt(one.msgs_per_s)} to "
            f"{fmt(top.msgs_per_s)} msgs/s)."
        )
    if not lines:
        return []
    return [
        "**Scaling** (closed-loop msgs/s with N server processes on one layer):",
        "",
        *lines,
        "",
    ]


def capacity(data: Data) -> list[str]:
    """Per server: the idle connections it held, what stopped the climb and, where it was
    looked at, how it behaved at the limit and whether it recovered."""
    at_limit = {(r.server, r.layer): r for r in unstacked(data, AtLimitRow)}
    lines = []
    for row in unstacked(data, LimitsRow):
        layer = f", {row.layer} layer" if row.layer else ""
        asked = "" if row.connections_target is None else f" of {row.connections_target:,} asked"
        stop = (
            f"stopped by {row.limit_kind} ({row.limit_side})"
            if row.limit_kind
            else row.limit_reason
        )
        text = (
            f"- {row.server}{layer}: **{row.connections_held:,}** idle connections{asked}"
            f"{_kb(row.bytes_per_connection)}; {stop}"
        )
        behaviour = at_limit.get((row.server, row.layer))
        if behaviour is not None:
            recovered = {True: "recovered", False: "did NOT recover", None: "recovery not seen"}
            text += f"; at the limit: {behaviour.behaviour}, {recovered[behaviour.recovered]}"
        lines.append(text + ".")
    if not lines:
        return []
    return ["**Capacity** (how many idle connections each server held):", "", *lines, ""]


def soak(data: Data) -> list[str]:
    """Per soaked server and flavour: its verdict and what it rests on."""
    lines = []
    for row in unstacked(data, SoakSummaryRow):
        growth = (
            "RSS not measured" if row.rss_growth_pct is None else f"RSS {row.rss_growth_pct:+g}%"
        )
        fds = (
            "descriptors not measured"
            if row.fds_start is None
            else f"open descriptors {row.fds_start} to {row.fds_end}"
        )
        minutes = "" if row.minutes is None else f" over {row.minutes:g} min"
        lines.append(
            f"- {row.server} {row.flavour}: **{row.verdict}**{minutes} ({growth}, {fds}, "
            f"{row.errors} errors)."
        )
    if not lines:
        return []
    return ["**Soak** (a steady mixed load, the server watched all along):", "", *lines, ""]


PARAGRAPHS: tuple[Callable[[Data], list[str]], ...] = (locust, fanout, scaling, capacity, soak)


def paragraphs(data: Data) -> list[str]:
    """Every paragraph of :data:`PARAGRAPHS` the run has rows for, in that order."""
    return [line for paragraph in PARAGRAPHS for line in paragraph(data)]
