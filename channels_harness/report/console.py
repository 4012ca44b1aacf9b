"""The console summary of a benchmark run (rich tables).

Ratios come from :mod:`channels_harness.report.summary` so the console, the
Markdown and the HTML report say the same thing.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from channels_harness.report.summary import server_vs_server, sync_vs_async


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i < 2 else "right")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    return table


def print_summary(console: Console, data: dict[str, Any]) -> None:
    """Throughput, ratios with their spread, headroom, breakdown and the rest."""
    throughput = [
        [
            r["server"],
            r["flavour"],
            r["concurrency"],
            r["payload"],
            f"{r['msgs_per_s']:,.0f}",
            f"{r['spread_pct']}%",
            r["p50_ms"],
            r["p99_ms"],
            r["errors"],
            f"{r['generator_cpu']:.0%}",
            "yes" if r["generator_bound"] else "no",
        ]
        for r in data["throughput"]
    ]
    console.print(
        _table(
            "Closed-loop throughput (median of runs)",
            [
                "server",
                "flavour",
                "conns",
                "payload",
                "msgs/s",
                "spread",
                "p50 ms",
                "p99 ms",
                "errors",
                "gen CPU",
                "gen-bound",
            ],
            throughput,
        )
    )
    ratios = [[r.label, r.text()] for r in sync_vs_async(data) + server_vs_server(data)]
    console.print(_table("Ratios (median, range over runs)", ["ratio", "value"], ratios))
    for row in data["headroom"]:
        verdict = "[green]ok[/]" if row.get("ok") else "[red]below target[/]"
        console.print(
            f"Headroom: raw echo {row['baseline_msgs_per_s']:,.0f} msgs/s / best Channels cell "
            f"{row['best_channels_msgs_per_s']:,.0f} ({row['best_cell']}) = "
            f"[bold]{row['ratio']}x[/] {verdict}; generator CPU {row['generator_cpu']:.0%}, "
            f"{row['generator_msgs_per_cpu_s']:,.0f} msgs per CPU-second"
        )
    if data["breakdown"]:
        console.print(
            _table(
                "Layer breakdown (us per message = 1e6 / msgs/s, 50 conns, 32B text)",
                ["server", "layer", "us/msg", "msgs/s"],
                [
                    [r["server"], r["layer"], r["us_per_msg"], f"{r['msgs_per_s']:,.0f}"]
                    for r in data["breakdown"]
                ],
            )
        )
    if data["latency"]:
        console.print(
            _table(
                "Open-loop latency (from intended send time)",
                ["server", "flavour", "target/s", "achieved/s", "p50", "p99", "p99.9", "max"],
                [
                    [
                        r["server"],
                        r["flavour"],
                        r["target_rate"],
                        r["achieved_rate"],
                        r["p50_ms"],
                        r["p99_ms"],
                        r["p999_ms"],
                        r["max_ms"],
                    ]
                    for r in data["latency"]
                ],
            )
        )
    if data["handshake"]:
        console.print(
            _table(
                "Handshakes (connect, accept, close)",
                ["server", "flavour", "per s", "spread", "p50 ms", "p99 ms"],
                [
                    [
                        r["server"],
                        r["flavour"],
                        f"{r['handshakes_per_s']:,.0f}",
                        f"{r['spread_pct']}%",
                        r["p50_ms"],
                        r["p99_ms"],
                    ]
                    for r in data["handshake"]
                ],
            )
        )
    if data["memory"]:
        console.print(
            _table(
                "Memory per idle connection",
                ["server", "flavour", "conns", "RSS idle MiB", "RSS loaded MiB", "bytes/conn"],
                [
                    [
                        r["server"],
                        r["flavour"],
                        r["connections"],
                        f"{r['rss_idle_bytes'] / 2**20:.1f}",
                        f"{r['rss_loaded_bytes'] / 2**20:.1f}",
                        f"{r['bytes_per_connection']:,}",
                    ]
                    for r in data["memory"]
                ],
            )
        )
    if data["blocking"]:
        console.print(
            _table(
                "Blocking handlers (50 conns)",
                ["server", "flavour", "kind", "ms", "msgs/s", "p50 ms", "p99 ms"],
                [
                    [
                        r["server"],
                        r["flavour"],
                        r["kind"],
                        r["delay_ms"],
                        f"{r['msgs_per_s']:,.0f}",
                        r["p50_ms"],
                        r["p99_ms"],
                    ]
                    for r in data["blocking"]
                ],
            )
        )
    for failure in data["failures"]:
        console.print(
            f"[red]failed[/] {failure['section']} {failure['cell']}: {failure['message']}"
        )
