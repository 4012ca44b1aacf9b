"""report.md: the run as a document that renders on a code host.

Summary (the verdict) first, then conformance and the measurement sections
(each from its :class:`~channels_harness.report.columns.Section`), then
methodology and setups. Built from data.json alone; plots are referenced by
file name (``plots/X.svg``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from channels_harness.report import intervals, kind_summaries, summary
from channels_harness.report.columns import Section, fmt, text
from channels_harness.report.grades import GRADE_ORDER
from channels_harness.report.rows import (
    AttackRow,
    ConformanceRow,
    FailureRow,
    ProfileRow,
    ThroughputRow,
    rows_of,
    unstacked,
)
from channels_harness.report.sections import (
    DEVIATIONS,
    INFO,
    NOT_APPLICABLE_RAN,
    REPORT_SECTIONS,
    feature_table,
)

__all__ = ["fmt", "render", "table", "verdict"]

Data = dict[str, Any]


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table (cells escaped for pipes and newlines)."""

    def cell(value: Any) -> str:
        return text(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def section_table(section: Section[Any], rows: Sequence[Any]) -> str:
    """``rows`` as a Markdown table with ``section``'s columns."""
    return table(section.headers, section.values(rows))


def section(data: Data, spec: Section[Any]) -> str:
    """One measurement section: title, intro, plots, table, footer ("" with no rows)."""
    rows = spec.rows(data)
    if not rows:
        return ""
    lines = [f"## {spec.title}", ""]
    if spec.intro:
        lines += [spec.intro, ""]
    for alt, plot in spec.plots:
        lines += [f"![{alt}](plots/{plot}.svg)", ""]
    lines += [section_table(spec, rows), ""]
    if spec.footer:
        lines += [spec.footer, ""]
    return "\n".join(lines)


def header(data: Data) -> str:
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


def _with_intervals(data: Data) -> bool:
    """Whether the run's throughput was measured in interleaved series with
    confidence intervals (older runs keep their old summary, word for word)."""
    return any(row.series is not None for row in unstacked(data, ThroughputRow))


# The charts the summary opens with, when the run has confidence intervals:
# (alt text, plot name).
SUMMARY_CHARTS: tuple[tuple[str, str], ...] = (
    ("Sync vs Async per server, msgs/s with 95% confidence intervals", "summary_flavours"),
    ("Ratios with their 95% confidence intervals", "summary_ratios"),
)


# Then, when the run has profiles: where the time goes, per server and flavour.
PROFILE_CHART = ("Where the time goes: shares of the sampled time per flavour", "profile")


def _charts(data: Data) -> list[str]:
    """The charts the summary opens with (none for a run without intervals)."""
    if not _with_intervals(data):
        return []
    charts = list(SUMMARY_CHARTS)
    if rows_of(data, ProfileRow):
        charts.append(PROFILE_CHART)
    lines: list[str] = []
    for alt, plot in charts:
        lines += [f"![{alt}](plots/{plot}.svg)", ""]
    return lines


def _ratio_lines(ratios: Sequence[summary.Ratio], bold: bool = True) -> list[str]:
    mark = "**" if bold else ""
    return [f"- {r.label}: {mark}{r.text()}{mark}" for r in ratios]


def _interval_ratios(data: Data) -> list[str]:
    """The ratios of a run with intervals: Sync vs Async, server vs server, TLS vs plain."""
    lines: list[str] = []
    cell = summary.headline_cell(unstacked(data, ThroughputRow))
    sync_async = summary.sync_vs_async(data)
    if cell and sync_async:
        lines += [
            f"**Sync vs Async** (echo, {cell[0]}, {cell[1]} connections; each ratio is the "
            "median of the per-round ratios of interleaved runs, with its 95% confidence "
            "interval from 6 rounds on, else the range of the rounds' ratios, named so; "
            '"no clear difference" when the interval contains 1.0):',
            "",
            *_ratio_lines(sync_async),
            "",
        ]
    cost = summary.cost_sync_vs_async(data) + summary.cost_server_vs_server(data)
    if cost:
        lines += [
            "**Cost per message** (the server's CPU time per message, user + system over "
            "all its processes: the steadier figure on a shared machine; how many times "
            "more CPU a message costs):",
            "",
            *_ratio_lines(cost, bold=False),
            "",
        ]
    versus = summary.server_vs_server(data)
    if versus:
        lines += [
            "**Server vs server** (same cell, against the slowest server per flavour):",
            "",
            *_ratio_lines(versus, bold=False),
            "",
        ]
    tls = summary.tls_vs_plain(data)
    if tls:
        lines += [
            "**TLS vs plain** (the same cell or handshake over wss://, its runs "
            "interleaved with the plain ones):",
            "",
            *_ratio_lines(tls, bold=False),
            "",
        ]
    return lines


# Up to this many noisy cells are listed with their reasons; more, by name only.
NOISE_DETAILED = 4


def _trust(data: Data) -> list[str]:
    """Which cells never settled and which ran while the machine was busy."""
    lines: list[str] = []
    unstable = summary.unstable_cells(data)
    if unstable:
        lines += [
            f"**Unstable cells** ({len(unstable)}): their interval stayed wider than "
            "the target after every run the budget allowed, so their own figures are no "
            "verdict (a ratio's verdict rests on its own paired interval): "
            + ", ".join(unstable)
            + ".",
            "",
        ]
    noise = summary.noise_tally(data)
    if noise.noisy and noise.worst is not None:
        if len(noise.noisy) <= NOISE_DETAILED:
            touched = "; ".join(f"{name} ({', '.join(why)})" for name, why in noise.noisy)
        else:
            touched = ", ".join(name for name, _ in noise.noisy)
        lines += [
            f"**Noise**: this run was noisy: {len(noise.noisy)} of {noise.recorded} cells ran "
            "while other processes used the server's or the generator's cores, or the "
            f"hypervisor stole CPU time (at worst: {', '.join(noise.worst.reasons())}): "
            f"{touched}. Their server CPU per message is the steadier figure.",
            "",
        ]
    elif noise.recorded:
        lines += [
            f"**Noise**: none of the {noise.recorded} cells saw other load on its cores or "
            "CPU steal.",
            "",
        ]
    return lines


def _counted(data: Data) -> list[str]:
    """The sync/async ratios of the counted cost (valgrind), beside wall clock's when timed."""
    from channels_harness.report.cost_ratios import cost_ratios

    pairs = [r for r in cost_ratios(data) if r.pair != "server / server"]
    if not pairs:
        return []
    items = []
    for r in pairs:
        wall = f"; wall clock {fmt(r.wall_clock)}x" if r.wall_clock else ""
        items.append(
            f"- {r.top} / {r.bottom}: {fmt(r.instructions)}x instructions, "
            f"{fmt(r.syscalls)}x syscalls{wall}"
        )
    return [
        "**Counted cost per message** (valgrind: user-space instructions and kernel "
        "syscalls per message, one connection; deterministic to within 1%, so it decides "
        "where wall clock is noise; it leaves out waiting, the kernel's own work and "
        "concurrency, which wall clock includes; see the cost sections):",
        "",
        *items,
        "",
    ]


def _ratios(data: Data) -> list[str]:
    lines = _interval_ratios(data) if _with_intervals(data) else _range_ratios(data)
    lines += _counted(data)
    fastest = summary.fastest_cells(data)
    if fastest:
        best = ", ".join(
            f"{r.server} {r.flavour} {fmt(float(r.msgs_per_s))} msgs/s" for r in fastest
        )
        lines += [f"**Fastest server-limited cells**: {best}.", ""]
    return lines


def _range_ratios(data: Data) -> list[str]:
    """The ratios of a run without intervals: medians and the range of their runs."""
    lines: list[str] = []
    cell = summary.headline_cell(unstacked(data, ThroughputRow))
    sync_async = summary.sync_vs_async(data)
    if cell and sync_async:
        lines += [
            f"**Sync vs Async** (echo, {cell[0]}, {cell[1]} connections, median of runs, "
            "range from the slowest and fastest runs):",
            "",
            *(f"- {r.label}: **{r.text()}**" for r in sync_async),
            "",
        ]
    versus = summary.server_vs_server(data)
    if versus:
        lines += [
            "**Server vs server** (same cell, against the slowest server per flavour):",
            "",
            *(f"- {r.label}: {r.text()}" for r in versus),
            "",
        ]
    return lines


def _headroom(data: Data) -> list[str]:
    room = summary.headroom(data)
    if room is None:
        return []
    ratio, interval = intervals.headroom_figure(room)
    ok = "meets" if ratio >= 5 else "does NOT meet"
    paired = (
        f" (the median of the per-round ratios, {intervals.text(interval)})" if interval else ""
    )
    return [
        f"**Generator headroom**: {room.generator} reached "
        f"{fmt(float(room.baseline_msgs_per_s))} msgs/s from one core against the "
        f"no-ASGI echo baseline, {fmt(ratio)}x the best Channels cell{paired} "
        f"({room.best_cell}, {fmt(float(room.best_channels_msgs_per_s or 0))} msgs/s "
        "when re-measured in runs interleaved with the baseline's); "
        f"this {ok} the 5x the harness requires.",
        "",
    ]


def _conformance_tally(data: Data) -> list[str]:
    counts = summary.grade_counts(data)
    if not counts:
        return []
    devs = summary.deviations(data)
    lines = [
        "**Conformance** (cases where the server broke a MUST or missed a SHOULD; "
        "the Conformance section lists them with what was observed):",
        "",
    ]
    for server, grades in counts.items():
        found = devs.get(server, [])
        fails = sum(1 for row in found if row.grade == "FAIL")
        tally = ", ".join(f"{g} {grades[g]}" for g in GRADE_ORDER if grades.get(g))
        lines.append(
            f"- {server}: **{len(found)}** deviating cases ({fails} breaking a MUST); "
            f"results {tally}"
        )
    return [*lines, ""]


def _attacks(data: Data) -> list[str]:
    attacks = unstacked(data, AttackRow)
    if not attacks:
        return []
    hurt = [r for r in attacks if not r.canary_ok or int(r.leaked_consumers or 0)]
    servers = sorted({r.server for r in attacks})
    outcome = (
        "every server kept serving and released every consumer."
        if not hurt
        else "left a server unable to serve or leaking consumers in: "
        + ", ".join(f"{r.server} {r.attack} ({r.outcome})" for r in hurt)
        + "."
    )
    return [
        f"**Hostile clients**: {len({r.attack for r in attacks})} attacks against "
        f"{len(servers)} server(s); {outcome}",
        "",
    ]


def _failures(data: Data) -> list[str]:
    failures = rows_of(data, FailureRow)
    if not failures:
        return []
    lines = [f"**{len(failures)} cell(s) failed** and are left out of the figures:", ""]
    for failure in failures:
        cell_text = ", ".join(f"{k}={v}" for k, v in (failure.cell or {}).items())
        first_line = (failure.message or "").splitlines()[:1]
        lines.append(f"- {failure.section}: {cell_text}: {''.join(first_line)}")
    return [*lines, ""]


def verdict(data: Data) -> str:
    """The summary: thresholds, charts, ratios, unstable and noisy cells, headroom,
    what the locust, fan-out, scaling, capacity and soak rows found, conformance
    tally, attacks and failed cells."""
    lines = ["## Summary", ""]
    for part in (
        kind_summaries.thresholds,
        _charts,
        _ratios,
        _trust,
        _headroom,
        kind_summaries.paragraphs,
        _conformance_tally,
        _attacks,
        _failures,
    ):
        lines += part(data)
    if len(lines) == 2 and data.get("kind") == "versions":
        lines.append(
            "This run compares stacks of versions: every figure is in the Versions sections "
            "below, each stack against the first."
        )
    elif len(lines) == 2:
        lines.append("No measurements finished in this run.")
    return "\n".join(lines)


def _first_per_case(rows: Sequence[ConformanceRow]) -> list[ConformanceRow]:
    """One row per (server, case): the first flavour's."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for row in rows:
        if (row.server, row.case) not in seen:
            seen.add((row.server, row.case))
            kept.append(row)
    return kept


def conformance(data: Data) -> str:
    rows = unstacked(data, ConformanceRow)
    if not rows:
        return ""
    lines = [
        "## Conformance",
        "",
        f"{len(rows)} graded results ({len({r.case for r in rows})} cases). Grades: PASS, "
        "NON-STRICT (a SHOULD missed), FAIL (a MUST broken), INFO (a recorded value), "
        "N/A (the server does not advertise what the case needs"
        + (
            '; "N/A (would be FAIL)" when the case ran anyway and deviated).'
            if any(row.would_be for row in rows)
            else ")."
        ),
        "",
    ]
    servers, features = summary.feature_lines(data)
    if features:
        spec = feature_table(servers)
        lines += [f"### {spec.title}", "", section_table(spec, features), ""]
    lines += ["![conformance grid](plots/conformance.svg)", ""]
    for server, found in summary.deviations(data).items():
        ordered = sorted(found, key=lambda r: (r.grade != "FAIL", r.case))
        lines += [f"### {server}: {DEVIATIONS.title}", "", section_table(DEVIATIONS, ordered), ""]
    hidden = _first_per_case(NOT_APPLICABLE_RAN.rows(data))
    if hidden:
        lines += [f"### {NOT_APPLICABLE_RAN.title}", "", section_table(NOT_APPLICABLE_RAN, hidden)]
        lines.append("")
    info = _first_per_case([row for row in rows if row.grade == "INFO"])
    if info:
        lines += [f"### {INFO.title}", "", section_table(INFO, info), ""]
    return "\n".join(lines)


def methodology(data: Data) -> str:
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
        *(_interval_method(options) if _with_intervals(data) else _range_method()),
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


def _range_method() -> list[str]:
    return [
        "- Throughput: closed loop, each connection sends its next message when the echo of "
        "the previous one arrives; figures are medians over repeated runs, spread is "
        "(max - min) / median of the runs.",
        "- Latency against load: open loop at fixed rates, latency measured from each "
        "message's intended send time (no coordinated omission).",
        "- Ratios are computed from cells measured in the same run; the range in brackets "
        "uses the slowest and fastest runs of each side.",
    ]


def _interval_method(options: dict[str, Any]) -> list[str]:
    bench = options.get("bench") or {}
    runs, most = bench.get("runs", "?"), bench.get("max_runs", "?")
    target = bench.get("target_ci_pct", 5.0)
    redo = bench.get("noisy_redo")
    redone = (
        f" A round whose runs saw CPU steal from 5% or other load on the pinned cores from 20% "
        f"of a core was dropped and measured again, up to {redo} times per measurement "
        "(the flags say how many runs each cell lost)."
        if redo
        else ""
    )
    return [
        "- Throughput: closed loop, each connection sends its next message when the echo of "
        "the previous one arrives. The cells of one concurrency and payload (every server, "
        "flavour, plain and TLS) are measured in interleaved rounds; every headline figure "
        f"(msgs/s, handshakes/s) is the median of at least {runs} runs, repeated (up to "
        f"{most}) until its interval reaches at most {fmt(float(target))}% from the median. "
        "A cell that never got there is marked unstable." + redone,
        "- Intervals: from 6 runs on, a figure's 95% confidence interval comes from the order "
        "statistics of its runs (for 6 to 8 runs their range, which covers the true median "
        "with at least 96.9%, whatever the shape of the noise); with fewer runs (the sweeps, "
        "the quick handshakes) the range of the runs is shown and called a range.",
        "- Ratios are the median of the per-round ratios of interleaved runs (a change in the "
        "machine's load hits both sides of a round alike), with their interval by the same "
        'rule; "no clear difference" when it contains 1.0.',
        "- Server CPU per message: user + system CPU time of the server's whole process tree "
        "over exactly each run's measured window, divided by the messages completed in it; "
        "steadier than msgs/s when the machine is shared.",
        "- Noise, per run from /proc: CPU time other processes used on the server's and the "
        "generator's cores (noisy from 10% of a core), CPU steal on them (noisy from 2%) and "
        "CPU pressure (the share of time some task waited for a CPU).",
        "- TLS: certificates made at start with trustme (a throwaway CA), the load generator "
        "trusting that CA only; a TLS cell runs on its own server process, in the same "
        "rounds as the plain cells.",
        "- Latency against load: open loop at fixed rates, latency measured from each "
        "message's intended send time (no coordinated omission).",
    ]


def setups(data: Data) -> str:
    servers = data.get("servers") or {}
    env = data.get("environment") or {}
    lines = ["## Setups", ""]
    if servers:
        rows = (
            (
                name,
                info.get("version"),
                info.get("ws_impl"),
                "`" + " ".join(info.get("command") or []) + "`",
            )
            for name, info in sorted(servers.items())
        )
        lines += [
            table(("server", "version", "WebSocket implementation", "command line"), rows),
            "",
        ]
    versions = env.get("versions") or {}
    if versions:
        lines += [table(("package", "version"), sorted(versions.items())), ""]
    return "\n".join(lines)


IMAGE = re.compile(r"^!\[[^\]]*\]\(plots/(?P<name>[\w-]+)\.svg\)$")


def render(data: Data, plots: Collection[str] | None = None) -> str:
    """The whole report.md text; image lines only for the ``plots`` that exist."""
    parts = [
        header(data),
        verdict(data),
        conformance(data),
        *(section(data, spec) for spec in REPORT_SECTIONS),
        methodology(data),
        setups(data),
    ]
    text_ = "\n\n".join(part.strip() for part in parts if part.strip()) + "\n"
    if plots is None:
        return text_
    kept = [
        line
        for line in text_.splitlines()
        if (match := IMAGE.match(line)) is None or match.group("name") in plots
    ]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)) + "\n"
