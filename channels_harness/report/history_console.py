"""A results folder's history as rich console tables: the points, every headline
series with each point's figure and interval, and the change points."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from channels_harness.report.history import (
    HEADLINES,
    ChangePoint,
    Context,
    Headline,
    History,
    Series,
    change_text,
    point_text,
)


def points_table(history: History) -> Table:
    """One line per point: its number, run (and stack), date, kind, commit and CPU."""
    table = Table(title="Points (runs, and each stack of a versions run), oldest first")
    for header in ("#", "run [stack]", "date", "kind", "commit", "CPU"):
        table.add_column(header, justify="right" if header == "#" else "left")
    for c in history.contexts:
        table.add_row(
            str(c.number),
            escape(c.name),
            c.date[:16],
            c.kind,
            c.commit,
            escape(c.machine.get("cpu_model", "")),
        )
    return table


def _shown(series: Sequence[Series], last: int) -> list[Context]:
    """The last ``last`` points any of ``series`` has, in order."""
    found = {p.context for s in series for p in s.points}
    return sorted(found, key=lambda c: c.number)[-last:]


def series_table(headline: Headline, series: Sequence[Series], last: int) -> Table:
    """One row per cell of ``headline``: its figure and interval at each of the last
    ``last`` points (the first point after a change in bold), and its change points."""
    contexts = _shown(series, last)
    table = Table(title=f"{headline.title} ({headline.unit})", title_justify="left")
    table.add_column("cell")
    for context in contexts:
        table.add_column(f"#{context.number}", justify="right")
    table.add_column("change points (at point: before -> after)")
    for one in series:
        at = {p.context: p for p in one.points}
        moved = {c.point.context for c in one.changes}
        cells = []
        for context in contexts:
            point = at.get(context)
            text = escape(point_text(headline, point).replace(" [", "\n[")) if point else ""
            cells.append(f"[bold]{text}[/]" if context in moved else text)
        changes = "\n".join(
            f"#{c.point.context.number}: {escape(change_text(c))}" for c in one.changes
        )
        table.add_row(escape(one.cell), *cells, changes)
    return table


def changes_table(changes: Sequence[ChangePoint]) -> Table:
    """Every change point: the cell, where, before and after, and what changed."""
    table = Table(title="Change points: where a cell moved beyond its own noise")
    for header in ("at", "cell", "before -> after", "what changed since the point before"):
        table.add_column(header)
    for c in changes:
        table.add_row(
            escape(f"#{c.point.context.number} {c.point.context.name}"),
            escape(f"{c.headline.key}: {c.cell}"),
            escape(change_text(c)),
            escape("; ".join(c.changed)),
        )
    return table


def show(console: Console, history: History, last: int = 8, cell: str = "") -> None:
    """Print the points, each headline's series (cells containing ``cell``) and the
    change points."""
    console.print(points_table(history))
    for line in history.left_out:
        console.print(f"[yellow]left out:[/] {escape(line)}")
    for headline in HEADLINES:
        series = [s for s in history.of(headline) if cell.lower() in s.cell.lower()]
        if series:
            console.print(series_table(headline, series, last))
    changes = [c for c in history.changes if cell.lower() in c.cell.lower()]
    if changes:
        console.print(changes_table(changes))
    else:
        console.print("No change points: no cell moved beyond its own noise.")
