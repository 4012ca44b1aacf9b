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

from channels_harness.report import summary
from channels_harness.report.columns import Section, fmt, text
from channels_harness.report.grades import GRADE_ORDER
from channels_harness.report.rows import (
    AttackRow,
    ConformanceRow,
    FailureRow,
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


def _ratios(data: Data) -> list[str]:
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
    fastest = summary.fastest_cells(data)
    if fastest:
        best = ", ".join(
            f"{r.server} {r.flavour} {fmt(float(r.msgs_per_s))} msgs/s" for r in fastest
        )
        lines += [f"**Fastest server-limited cells**: {best}.", ""]
    return lines


def _headroom(data: Data) -> list[str]:
    room = summary.headroom(data)
    if room is None:
        return []
    ok = "meets" if float(room.ratio or 0) >= 5 else "does NOT meet"
    return [
        f"**Generator headroom**: {room.generator} reached "
        f"{fmt(float(room.baseline_msgs_per_s))} msgs/s from one core against the "
        f"no-ASGI echo baseline, {fmt(float(room.ratio))}x the best Channels cell "
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
    """The summary: ratios, headroom, conformance tally, attacks and failed cells."""
    lines = ["## Summary", ""]
    for part in (_ratios, _headroom, _conformance_tally, _attacks, _failures):
        lines += part(data)
    if len(lines) == 2:
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
