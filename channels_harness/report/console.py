"""Console tables (rich), with the same columns as the report.

Every table here takes its columns from a
:class:`~channels_harness.report.columns.Section`, and every ratio from
:mod:`channels_harness.report.summary`, so the console, the Markdown and the
HTML report say the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from channels_harness.report import intervals, sections
from channels_harness.report.columns import Section
from channels_harness.report.loadcells import LoadCell, load_cells
from channels_harness.report.rows import FailureRow, LocustRow, rows_of
from channels_harness.report.summary import (
    Ratio,
    cost_server_vs_server,
    cost_sync_vs_async,
    headroom,
    noise_tally,
    server_vs_server,
    sync_vs_async,
    tls_vs_plain,
    unstable_cells,
)

# What `bench` prints after its run, in this order (ratios and headroom after throughput).
BENCH_SECTIONS = (
    sections.BREAKDOWN,
    sections.BREAKDOWN_CI,
    sections.LATENCY,
    sections.LATENCY_APP,
    sections.SCENARIO_LATENCY,
    sections.HANDSHAKE,
    sections.HANDSHAKE_CI,
    sections.HANDSHAKE_APP,
    sections.SCENARIO_HANDSHAKE,
    sections.MEMORY,
    sections.BLOCKING,
    sections.COMPRESSION,
    sections.PROFILE,
    sections.PROFILE_FINDINGS,
    sections.COST,
    sections.COST_RATIOS,
)


def section_table(
    spec: Section[Any], rows: Sequence[Any], title: str | None = None, left: int = 2
) -> Table:
    """``rows`` as a rich table with ``spec``'s columns (the first ``left`` left-aligned)."""
    table = Table(title=title or spec.title, title_justify="left")
    for i, header in enumerate(spec.headers):
        table.add_column(header, justify="left" if i < left else "right")
    for cells in spec.texts(rows):
        # cells are data, never rich markup (a Markdown link's [text] would vanish)
        table.add_row(*(escape(cell) for cell in cells))
    return table


def print_sections(console: Console, data: dict[str, Any], specs: Sequence[Section[Any]]) -> None:
    """One table per section of ``specs`` that has rows in ``data``."""
    for spec in specs:
        rows = spec.rows(data)
        if rows:
            console.print(section_table(spec, rows))


def print_failures(console: Console, data: dict[str, Any]) -> None:
    for failure in rows_of(data, FailureRow):
        console.print(f"[red]failed[/] {failure.section} {failure.cell}: {failure.message}")


def ratio_table(ratios: Sequence[Ratio]) -> Table:
    """The ratios with their intervals (95% CI or range) and verdicts (or, for a
    run without intervals, their range over runs)."""
    with_ci = any(r.ci for r in ratios)
    title = (
        "Ratios (median of paired runs, 95% CI or range)"
        if with_ci
        else "Ratios (median, range over runs)"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("ratio")
    table.add_column("value", justify="right")
    if with_ci:
        table.add_column("interval", justify="right")
        table.add_column("verdict")
    for r in ratios:
        if not with_ci:
            table.add_row(r.label, r.text())
        elif r.ci:
            unstable = ["[yellow]unstable cells[/]"] if r.unstable else []
            verdict = ", ".join([r.verdict or "[green]clear[/]", *unstable])
            interval = f"{r.kind} {r.low:.2f}-{r.high:.2f}"
            table.add_row(r.label, f"{r.value:.2f}x", interval, verdict)
        else:
            table.add_row(r.label, r.text(), "", "single run")
    return table


def print_trust(console: Console, data: dict[str, Any]) -> None:
    """The unstable cells, and the noisy ones with why."""
    unstable = unstable_cells(data)
    if unstable:
        console.print(
            "[yellow]unstable[/] (interval wider than the target after every run allowed): "
            + ", ".join(unstable)
        )
    noise = noise_tally(data)
    if noise.worst is not None and len(noise.noisy) > 4:
        console.print(
            f"[yellow]noisy[/] {len(noise.noisy)} of {noise.recorded} cells "
            f"(at worst: {', '.join(noise.worst.reasons())}): "
            + ", ".join(name for name, _ in noise.noisy)
        )
    else:
        for name, reasons in noise.noisy:
            console.print(f"[yellow]noisy[/] {name}: {', '.join(reasons)}")
    if noise.recorded and not noise.noisy:
        console.print(f"no noise: none of {noise.recorded} cells saw other load or CPU steal")


def print_summary(console: Console, data: dict[str, Any]) -> None:
    """What a benchmark run found: throughput, ratios with their intervals, the
    unstable and noisy cells, headroom, then the other sections and the failed cells."""
    print_sections(
        console,
        data,
        (
            sections.THROUGHPUT,
            sections.THROUGHPUT_CI,
            sections.THROUGHPUT_APP,
            sections.SCENARIO_THROUGHPUT,
        ),
    )
    ratios = sync_vs_async(data) + cost_sync_vs_async(data) + server_vs_server(data)
    ratios += cost_server_vs_server(data) + tls_vs_plain(data)
    if ratios:  # none for your own app: one path, no flavours to pair
        console.print(ratio_table(ratios))
    print_trust(console, data)
    room = headroom(data)
    if room is not None:
        verdict = "[green]ok[/]" if room.ok else "[red]below target[/]"
        ratio, interval = intervals.headroom_figure(room)
        paired = f" (median of per-round ratios, {intervals.text(interval)})" if interval else ""
        console.print(
            f"Headroom: raw echo {room.baseline_msgs_per_s:,.0f} msgs/s / best Channels cell "
            f"{room.best_channels_msgs_per_s or 0:,.0f} ({room.best_cell}) = "
            f"[bold]{ratio}x[/]{paired} {verdict}; generator CPU {room.generator_cpu or 0:.0%}, "
            f"{room.generator_msgs_per_cpu_s or 0:,.0f} msgs per CPU-second"
        )
    print_sections(console, data, BENCH_SECTIONS)
    print_failures(console, data)


def load_comparison(rows: Sequence[LocustRow], title: str = "locust load") -> Table:
    """The comparison table of a locust run (see :mod:`~channels_harness.report.loadcells`)."""
    cells = load_cells(rows)
    first = next((c.server for c in cells if c.server != "raw-echo"), "first server")
    churn = bool(rows) and rows[0].scenario == "churn"
    memory = any(r.rss_per_connection_bytes is not None for r in rows)
    spec: Section[LoadCell] = sections.load_comparison(first, churn, memory)
    caption = (
        "p50/p95/p99 in ms; gen(erator) and s(e)rv(er) CPU as a share of one core, "
        "! = generator-bound; /x = rate over x's rate in this run"
    )
    if memory:
        caption += "; KB/conn = server memory growth per open connection"
    table = Table(title=title, caption=caption, box=box.SIMPLE_HEAD, collapse_padding=True)
    for i, header in enumerate(spec.headers):
        table.add_column(header, justify="left" if i == 0 else "right")
    for line in spec.texts(cells):
        table.add_row(*line)
    return table
