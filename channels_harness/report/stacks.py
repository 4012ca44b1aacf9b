"""Each stack of a ``versions`` run against the first, from the stored runs.

A versions run measures each stack in its own process, one stack after the
other, so run k of one stack was not measured beside run k of another: their
ratio is the ratio of the two medians, unpaired, with the interval
:func:`~channels_harness.runtime.confidence.ratio_interval` gives unpaired
sides (a 95% CI from 7 runs a side, else the range the runs allow), never
per-round ratios. The report recomputes it from the throughput rows' runs,
so a run published before this rule re-renders with the right interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from channels_harness.report.rows import ThroughputRow, VersionRow, rows_of
from channels_harness.report.summary import Ratio, headline_cell, ratio

Cell = tuple[str, str]  # (server, flavour)


def headline(rows: Sequence[ThroughputRow], cell: tuple[str, int] | None) -> dict[Cell, Any]:
    """The rows of the headline ``cell`` (payload, concurrency) by server and flavour."""
    if cell is None:
        return {}
    return {
        (row.server, row.flavour): row
        for row in rows
        if row.scenario == "echo"
        and str(row.payload) == cell[0]
        and int(row.concurrency or 0) == cell[1]
        and row.msgs_per_s
    }


def versus_first(row: ThroughputRow | None, first: ThroughputRow | None) -> Ratio | None:
    """``row``'s msgs/s over the first stack's same cell (None when either is missing)."""
    if row is None or first is None:
        return None
    return ratio("", row, first, "server")


def with_ratio(row: VersionRow, versus: Ratio | None) -> VersionRow:
    """``row`` with its ratio to the first stack and that ratio's interval."""
    return replace(
        row,
        ratio=versus.value if versus else None,
        ratio_low=versus.low if versus else None,
        ratio_high=versus.high if versus else None,
        ratio_interval=(versus.kind if versus.ci else "range") if versus else None,
    )


def against_first(data: Mapping[str, Any]) -> list[VersionRow]:
    """The run's versions rows, each with its ratio to the first stack recomputed
    from the stored runs of both throughput rows."""
    rows = rows_of(data, VersionRow)
    first = next((row.stack for row in rows if row.first), None)
    if first is None:
        return rows
    throughput = rows_of(data, ThroughputRow)
    first_rows = [row for row in throughput if row.stack == first]
    cell = headline_cell(first_rows)
    bases = headline(first_rows, cell)
    own: dict[str, dict[Cell, ThroughputRow]] = {}
    found = []
    for row in rows:
        key = repr(sorted(row.stack.items()))
        if key not in own:
            own[key] = headline([t for t in throughput if t.stack == row.stack], cell)
        cells = own[key]
        if row.first and (row.server, row.flavour) in cells:
            # The reference itself: 1.00x by definition, no interval to show.
            found.append(
                replace(row, ratio=1.0, ratio_low=None, ratio_high=None, ratio_interval=None)
            )
            continue
        versus = versus_first(
            cells.get((row.server, row.flavour)), bases.get((row.server, row.flavour))
        )
        found.append(with_ratio(row, versus))
    return found
