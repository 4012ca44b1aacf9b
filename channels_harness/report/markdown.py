"""report.md: the run as a document that renders on a code host.

Summary (the verdict) first, then the matrices, then methodology and setups.
Built from data.json alone; plots are referenced by file name (``plots/X.svg``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from channels_harness.report import summary


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table (cells escaped for pipes and newlines)."""

    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, float):
            return fmt(value)
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: float | None, digits: int = 3) -> str:
    """A number with a sensible number of significant digits."""
    if value is None:
        return ""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.{digits}g}"


def _rows(data: dict[str, Any], section: str) -> list[dict[str, Any]]:
    return list(data.get(section) or [])


def header(data: dict[str, Any]) -> str:
    env = data.get("environment", {})
    git = env.get("git") or {}
    commit = (git.get("commit") or "unknown")[:12] + (" (dirty)" if git.get("dirty") else "")
    status = data.get("status", "incomplete")
    lines = [f"# Channels harness run `{data['run_id']}`", ""]
    if status != "complete":
        lines += [
            f"> **{status.upper()}**: this run did not finish; every figure below is from a "
            "cell that did, the rest is missing.",
            "",
        ]
    lines += [
        f"- **Date**: {data.get('started')} to {data.get('finished') or 'unfinished'}",
        f"- **Machine**: {env.get('cpu_model')}, {env.get('cpu_count')} cores, "
        f"{(env.get('memory_bytes') or 0) / 2**30:.0f} GiB, {env.get('os')}",
        f"- **Python** {env.get('python')}, harness commit `{commit}`",
        f"- **Command**: `{' '.join(data.get('command') or [])}`",
    ]
    return "\n".join(lines)


def verdict(data: dict[str, Any]) -> str:
    lines = ["## Summary", ""]
    cell = summary.headline_cell(_rows(data, "throughput"))
    sync_async = summary.sync_vs_async(data)
    if cell and sync_async:
        lines.append(
            f"**Sync vs Async** (echo, {cell[0]}, {cell[1]} connections, median of runs, "
            "range from the slowest and fastest runs):"
        )
        lines.append("")
        lines += [f"- {r.label}: **{r.text()}**" for r in sync_async]
        lines.append("")
    versus = summary.server_vs_server(data)
    if versus:
        lines.append("**Server vs server** (same cell, against the slowest server per flavour):")
        lines.append("")
        lines += [f"- {r.label}: {r.text()}" for r in versus]
        lines.append("")
    fastest = summary.fastest_cells(data)
    if fastest:
        best = ", ".join(
            f"{r['server']} {r['flavour']} {fmt(float(r['msgs_per_s']))} msgs/s" for r in fastest
        )
        lines += [f"**Fastest server-limited cells**: {best}.", ""]
    room = summary.headroom(data)
    if room:
        ok = "meets" if float(room.get("ratio") or 0) >= 5 else "does NOT meet"
        lines += [
            f"**Generator headroom**: {room.get('generator')} reached "
            f"{fmt(float(room['baseline_msgs_per_s']))} msgs/s from one core against the "
            f"no-ASGI echo baseline, {fmt(float(room['ratio']))}x the best Channels cell "
            f"({room.get('best_cell')}, {fmt(float(room['best_channels_msgs_per_s']))} msgs/s "
            "when re-measured in runs interleaved with the baseline's); "
            f"this {ok} the 5x the harness requires.",
            "",
        ]
    devs = summary.deviations(data)
    counts = summary.grade_counts(data)
    if counts:
        lines.append(
            "**Conformance** (cases where the server broke a MUST or missed a SHOULD; "
            "the Conformance section lists them with what was observed):"
        )
        lines.append("")
        for server, grades in counts.items():
            found = devs.get(server, [])
            fails = sum(1 for row in found if row.get("grade") == "FAIL")
            tally = ", ".join(f"{g} {grades[g]}" for g in summary.GRADE_ORDER if grades.get(g))
            lines.append(
                f"- {server}: **{len(found)}** deviating cases ({fails} breaking a MUST); "
                f"results {tally}"
            )
        lines.append("")
    attacks = _rows(data, "attacks")
    if attacks:
        hurt = [r for r in attacks if not r.get("canary_ok") or int(r.get("leaked_consumers") or 0)]
        servers = sorted({r["server"] for r in attacks})
        lines.append(
            f"**Hostile clients**: {len({r['attack'] for r in attacks})} attacks against "
            f"{len(servers)} server(s); "
            + (
                "every server kept serving and released every consumer."
                if not hurt
                else "left a server unable to serve or leaking consumers in: "
                + ", ".join(f"{r['server']} {r['attack']} ({r.get('outcome')})" for r in hurt)
                + "."
            )
        )
        lines.append("")
    failures = _rows(data, "failures")
    if failures:
        lines.append(f"**{len(failures)} cell(s) failed** and are left out of the figures:")
        lines.append("")
        for failure in failures:
            cell_text = ", ".join(f"{k}={v}" for k, v in (failure.get("cell") or {}).items())
            first_line = (failure.get("message") or "").splitlines()[:1]
            lines.append(f"- {failure.get('section')}: {cell_text}: {''.join(first_line)}")
        lines.append("")
    if len(lines) == 2:
        lines.append("No measurements finished in this run.")
    return "\n".join(lines)


def conformance(data: dict[str, Any]) -> str:
    devs = summary.deviations(data)
    rows = _rows(data, "conformance")
    if not rows:
        return ""
    lines = ["## Conformance", ""]
    lines.append(
        f"{len(rows)} graded results ({len({r['case'] for r in rows})} cases). Grades: PASS, "
        "NON-STRICT (a SHOULD missed), FAIL (a MUST broken), INFO (a recorded value), "
        "N/A (the server does not advertise what the case needs)."
    )
    lines += ["", "![conformance grid](plots/conformance.svg)", ""]
    for server, found in devs.items():
        lines += [f"### {server}: deviations", ""]
        lines.append(
            table(
                ("case", "clause", "grade", "observed", "flavours"),
                (
                    (
                        row["case"],
                        row.get("clause"),
                        row.get("grade"),
                        row.get("observed"),
                        ", ".join(
                            sorted(
                                {
                                    str(r.get("flavour"))
                                    for r in rows
                                    if r["server"] == server
                                    and r["case"] == row["case"]
                                    and r.get("grade") in summary.DEVIATING_GRADES
                                }
                            )
                        ),
                    )
                    for row in sorted(found, key=lambda r: (r.get("grade") != "FAIL", r["case"]))
                ),
            )
        )
        lines.append("")
    info = [r for r in rows if r.get("grade") == "INFO"]
    if info:
        seen: set[tuple[str, str]] = set()
        unique = []
        for row in info:
            if (row["server"], row["case"]) not in seen:
                seen.add((row["server"], row["case"]))
                unique.append(row)
        lines += ["### Recorded values (INFO)", ""]
        lines.append(
            table(
                ("server", "case", "clause", "observed"),
                ((r["server"], r["case"], r.get("clause"), r.get("observed")) for r in unique),
            )
        )
        lines.append("")
    return "\n".join(lines)


def throughput(data: dict[str, Any]) -> str:
    rows = _rows(data, "throughput")
    if not rows:
        return ""
    lines = ["## Throughput (closed loop echo)", "", "![throughput](plots/throughput.svg)", ""]
    lines.append("![latency percentiles](plots/latency_percentiles.svg)")
    lines.append("")
    lines.append(
        table(
            (
                "server",
                "flavour",
                "conns",
                "payload",
                "msgs/s",
                "spread %",
                "runs",
                "p50 ms",
                "p99 ms",
                "p99.9 ms",
                "errors",
                "gen CPU",
                "gen-bound",
            ),
            (
                (
                    r["server"],
                    r["flavour"],
                    r.get("concurrency"),
                    r.get("payload"),
                    r.get("msgs_per_s"),
                    r.get("spread_pct"),
                    r.get("runs"),
                    r.get("p50_ms"),
                    r.get("p99_ms"),
                    r.get("p999_ms"),
                    r.get("errors"),
                    r.get("generator_cpu"),
                    r.get("generator_bound"),
                )
                for r in sorted(
                    rows,
                    key=lambda r: (
                        str(r.get("payload")),
                        int(r.get("concurrency") or 0),
                        r["server"],
                        r["flavour"],
                    ),
                )
            ),
        )
    )
    lines += [
        "",
        "A cell marked gen-bound was limited by the load generator, not the server; "
        "it is never used in the summary.",
        "",
    ]
    return "\n".join(lines)


def simple_section(
    data: dict[str, Any],
    section: str,
    title: str,
    plot: str | None,
    columns: Sequence[tuple[str, str]],
    intro: str = "",
) -> str:
    rows = _rows(data, section)
    if not rows:
        return ""
    lines = [f"## {title}", ""]
    if intro:
        lines += [intro, ""]
    if plot:
        lines += [f"![{title}](plots/{plot}.svg)", ""]
    lines.append(
        table([label for label, _ in columns], ([r.get(k) for _, k in columns] for r in rows))
    )
    lines.append("")
    return "\n".join(lines)


def methodology(data: dict[str, Any]) -> str:
    options = data.get("options") or {}
    pin = options.get("pinning") or {}
    if pin.get("pinned"):
        pinning = (
            f"server pinned to core(s) {pin.get('server_cpus')}, load generator to "
            f"core(s) {pin.get('generator_cpus')}"
        )
    else:
        pinning = pin.get("why") or "not recorded"
    lines = [
        "## Methodology",
        "",
        "- Every server runs the same reference Channels project (`target_app/`) in its own "
        "process group on 127.0.0.1, started and stopped by the harness for each cell.",
        f"- Pinning: {pinning}.",
        "- Throughput: closed loop, each connection sends its next message when the echo of "
        "the previous one arrives; figures are medians over repeated runs, spread is "
        "(max - min) / median of the runs.",
        "- Latency against load: open loop at fixed rates, latency measured from each "
        "message's intended send time (no coordinated omission).",
        "- Ratios are computed from cells measured in the same run; the range in brackets "
        "uses the slowest and fastest runs of each side.",
        "- The generator's CPU is recorded next to every cell; a cell whose generator "
        "process used 90% of a core or more, or fell short of its target rate, is marked "
        "generator-bound and left out of the verdict.",
    ]
    for key, value in sorted(options.items()):
        if key != "pinning":
            lines.append(f"- Option `{key}`: `{json.dumps(value)}`")
    for note in data.get("notes") or []:
        lines.append(f"- {note}")
    return "\n".join(lines) + "\n"


def setups(data: dict[str, Any]) -> str:
    servers = data.get("servers") or {}
    env = data.get("environment") or {}
    lines = ["## Setups", ""]
    if servers:
        lines.append(
            table(
                ("server", "version", "WebSocket implementation", "command line"),
                (
                    (
                        name,
                        info.get("version"),
                        info.get("ws_impl"),
                        "`" + " ".join(info.get("command") or []) + "`",
                    )
                    for name, info in sorted(servers.items())
                ),
            )
        )
        lines.append("")
    versions = env.get("versions") or {}
    if versions:
        lines.append(table(("package", "version"), sorted(versions.items())))
        lines.append("")
    return "\n".join(lines)


IMAGE = re.compile(r"^!\[[^\]]*\]\(plots/(?P<name>[\w-]+)\.svg\)$")


def render(data: dict[str, Any], plots: Collection[str] | None = None) -> str:
    """The whole report.md text; image lines only for the ``plots`` that exist."""
    parts = [
        header(data),
        verdict(data),
        conformance(data),
        throughput(data),
        simple_section(
            data,
            "latency",
            "Latency against load (open loop)",
            "latency_vs_load",
            [
                ("server", "server"),
                ("flavour", "flavour"),
                ("target/s", "target_rate"),
                ("achieved/s", "achieved_rate"),
                ("p50 ms", "p50_ms"),
                ("p99 ms", "p99_ms"),
                ("p99.9 ms", "p999_ms"),
                ("max ms", "max_ms"),
                ("gen-bound", "generator_bound"),
            ],
        ),
        simple_section(
            data,
            "handshake",
            "Handshakes",
            "handshake",
            [
                ("server", "server"),
                ("flavour", "flavour"),
                ("per second", "handshakes_per_s"),
                ("p50 ms", "p50_ms"),
                ("p99 ms", "p99_ms"),
                ("spread %", "spread_pct"),
                ("runs", "runs"),
            ],
        ),
        simple_section(
            data,
            "memory",
            "Memory per idle connection",
            "memory",
            [
                ("server", "server"),
                ("flavour", "flavour"),
                ("connections", "connections"),
                ("RSS idle", "rss_idle_bytes"),
                ("RSS loaded", "rss_loaded_bytes"),
                ("bytes/conn", "bytes_per_connection"),
            ],
        ),
        simple_section(
            data,
            "breakdown",
            "Layer breakdown",
            "breakdown",
            [
                ("server", "server"),
                ("layer", "layer"),
                ("µs/msg", "us_per_msg"),
                ("msgs/s", "msgs_per_s"),
            ],
            "Each layer adds one piece of the stack to the one before it; the difference "
            "between two rows is that piece's cost per message.",
        ),
        simple_section(
            data,
            "blocking",
            "Handlers that do work",
            None,
            [
                ("server", "server"),
                ("flavour", "flavour"),
                ("kind", "kind"),
                ("delay ms", "delay_ms"),
                ("conns", "concurrency"),
                ("msgs/s", "msgs_per_s"),
                ("p50 ms", "p50_ms"),
                ("p99 ms", "p99_ms"),
            ],
            "`block` sleeps in the handler's thread (time.sleep); `await` awaits "
            "(asyncio.sleep, async flavours only).",
        ),
        simple_section(
            data,
            "locust",
            "Locust runs",
            "locust",
            [
                ("scenario", "scenario"),
                ("server", "server"),
                ("flavour", "flavour"),
                ("users", "users"),
                ("procs", "processes"),
                ("msgs/s", "msgs_per_s"),
                ("p50 ms", "p50_ms"),
                ("p95 ms", "p95_ms"),
                ("p99 ms", "p99_ms"),
                ("failures", "failures"),
                ("gen CPU", "generator_cpu"),
                ("gen-bound", "generator_bound"),
                ("resolution ms", "resolution_ms"),
            ],
        ),
        simple_section(
            data,
            "fanout",
            "Fan-out through the channel layer",
            "fanout",
            [
                ("layer", "layer"),
                ("server", "server"),
                ("flavour", "flavour"),
                ("members", "group_size"),
                ("messages", "messages"),
                ("deliveries/s", "deliveries_per_s"),
                ("p50 ms", "p50_ms"),
                ("p99 ms", "p99_ms"),
                ("max ms", "max_ms"),
                ("lost", "lost"),
                ("runs", "runs"),
                ("gen-bound", "generator_bound"),
            ],
            "One member broadcasts timestamped messages to the room; latency runs from the "
            "send stamp to each member's receipt on the generator's clock.",
        ),
        simple_section(
            data,
            "scaling",
            "Throughput against server processes",
            None,
            [
                ("pinning", "pinning"),
                ("server", "server"),
                ("layer", "layer"),
                ("processes", "processes"),
                ("flavour", "flavour"),
                ("msgs/s", "msgs_per_s"),
                ("spread %", "spread_pct"),
                ("runs", "runs"),
                ("server cores", "server_cpus"),
                ("gen-bound", "generator_bound"),
            ],
        ),
        simple_section(
            data,
            "soak_summary",
            "Soak",
            "soak",
            [
                ("server", "server"),
                ("flavour", "flavour"),
                ("minutes", "minutes"),
                ("RSS start", "rss_start_bytes"),
                ("RSS end", "rss_end_bytes"),
                ("RSS growth %", "rss_growth_pct"),
                ("fds before", "fds_start"),
                ("fds after", "fds_end"),
                ("errors", "errors"),
                ("verdict", "verdict"),
            ],
            "Samples of RSS, open descriptors and live consumers over time are in data.json "
            "(section soak); the verdict rule is in the notes below.",
        ),
        simple_section(
            data,
            "limits",
            "Concurrent idle connections",
            None,
            [
                ("server", "server"),
                ("flavour", "flavour"),
                ("target", "connections_target"),
                ("held", "connections_held"),
                ("bytes/conn", "bytes_per_connection"),
                ("stopped by", "limit_reason"),
            ],
        ),
        simple_section(
            data,
            "attacks",
            "Hostile clients",
            None,
            [
                ("server", "server"),
                ("attack", "attack"),
                ("outcome", "outcome"),
                ("canary echoed", "canary_ok"),
                ("leaked consumers", "leaked_consumers"),
                ("detail", "detail"),
            ],
            "After each attack a fresh client must still get its echo (the canary) and the "
            "app's live-consumer count must return to zero.",
        ),
        simple_section(
            data,
            "headroom",
            "Generator headroom",
            None,
            [
                ("generator", "generator"),
                ("baseline msgs/s", "baseline_msgs_per_s"),
                ("best Channels msgs/s", "best_channels_msgs_per_s"),
                ("best cell", "best_cell"),
                ("ratio", "ratio"),
                ("gen CPU", "generator_cpu"),
            ],
        ),
        methodology(data),
        setups(data),
    ]
    text = "\n\n".join(part.strip() for part in parts if part.strip()) + "\n"
    if plots is None:
        return text
    kept = []
    for line in text.splitlines():
        match = IMAGE.match(line)
        if match is None or match.group("name") in plots:
            kept.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)) + "\n"
