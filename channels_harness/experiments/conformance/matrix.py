"""The conformance matrix: rows as JSON, and Markdown that renders on a code host."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from channels_harness.experiments.conformance.deviations import Deviations
from channels_harness.report.model import write_atomic
from channels_harness.servers.registry import SERVERS, get_spec

ROW_KEYS = (
    "case",
    "clause",
    "title",
    "area",
    "server",
    "flavour",
    "grade",
    "expected",
    "observed",
    "known_deviation",
)
GRADE_ORDER = ("PASS", "NON-STRICT", "FAIL", "INFO", "N/A")


def row_order(row: dict[str, Any]) -> tuple[Any, ...]:
    """Sort rows by area, case, server (registry order), flavour."""
    server_rank = list(SERVERS).index(row["server"]) if row["server"] in SERVERS else 99
    return (row["area"], row["case"], server_rank, row["flavour"])


def _server_info(names: list[str]) -> dict[str, dict[str, str]]:
    info = {}
    for name in names:
        try:
            info[name] = get_spec(name).describe()
        except KeyError:
            info[name] = {"name": name}
    return info


def servers_of(rows: list[dict[str, Any]]) -> list[str]:
    """The servers present in ``rows``, in registry order."""
    names = {row["server"] for row in rows}
    return [n for n in SERVERS if n in names] + sorted(names - set(SERVERS))


def summary(rows: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """Grade counts per server."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        counts[row["server"]][row["grade"]] += 1
    return counts


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _grid_cell(rows: list[dict[str, Any]]) -> str:
    grades = {row["flavour"]: row["grade"] for row in rows}
    distinct = set(grades.values())
    if len(distinct) == 1:
        return distinct.pop()
    return " ".join(f"{flavour}:{grade}" for flavour, grade in sorted(grades.items()))


def to_markdown(rows: list[dict[str, Any]], *, strict: bool, deviations: Deviations) -> str:
    """The matrix as Markdown: summary, deviations with clauses, full grid, INFO values."""
    servers = servers_of(rows)
    info = _server_info(servers)
    counts = summary(rows)
    lines = [
        "# Conformance matrix",
        "",
        f"Generated {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}; "
        f"{len({r['case'] for r in rows})} cases, {len(rows)} rows"
        f"{', strict mode' if strict else ''}. Grades: PASS, NON-STRICT (a SHOULD missed), "
        "FAIL (a MUST broken), INFO (recorded value), N/A (spec version or extension "
        "not advertised).",
        "",
        "## Summary",
        "",
        "| server | version | ws | " + " | ".join(GRADE_ORDER) + " |",
        "|---|---|---|" + "---|" * len(GRADE_ORDER),
    ]
    for name in servers:
        meta = info[name]
        grades = " | ".join(str(counts[name].get(g, 0)) for g in GRADE_ORDER)
        lines.append(
            f"| {name} | {meta.get('version', '?')} | {_cell(meta.get('ws_impl', '?'))} | "
            f"{grades} |"
        )
    lines += ["", "## Deviations", ""]
    deviating = [r for r in rows if r["grade"] in ("FAIL", "NON-STRICT")]
    if not deviating:
        lines.append("None.")
    for name in servers:
        mine = [r for r in deviating if r["server"] == name]
        if not mine:
            continue
        lines += [
            f"### {name}",
            "",
            "| case | flavours | clause | grade | observed | known |",
            "|---|---|---|---|---|---|",
        ]
        grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
        for row in mine:
            grouped[(row["case"], row["grade"], row["observed"])].append(row)
        for (case, grade, observed), group in grouped.items():
            flavours = ",".join(sorted(r["flavour"] for r in group))
            known = "yes" if all(r["known_deviation"] for r in group) else "**no**"
            lines.append(
                f"| `{case}` | {flavours} | {_cell(group[0]['clause'])} | {grade} | "
                f"{_cell(observed)} | {known} |"
            )
        lines.append("")
    lines += ["## Matrix", "", "| area | case | clause | " + " | ".join(servers) + " |"]
    lines.append("|---|---|---|" + "---|" * len(servers))
    by_case: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_case[row["case"]].append(row)
    for case, case_rows in by_case.items():
        cells = [
            _grid_cell([r for r in case_rows if r["server"] == name]) or "-" for name in servers
        ]
        first = case_rows[0]
        lines.append(
            f"| {first['area']} | `{case}`: {_cell(first['title'])} | {_cell(first['clause'])} | "
            + " | ".join(cells)
            + " |"
        )
    infos = [r for r in rows if r["grade"] == "INFO"]
    if infos:
        lines += ["", "## Recorded values (INFO)", "", "| case | server | flavour | observed |"]
        lines.append("|---|---|---|---|")
        lines += [
            f"| `{r['case']}` | {r['server']} | {r['flavour']} | {_cell(r['observed'])} |"
            for r in infos
        ]
    if deviations.entries:
        lines += ["", "## Why each known deviation deviates", ""]
        for entry in deviations.entries:
            cases = ", ".join(f"`{case}`" for case in entry.cases)
            flaky = " (timing-dependent)" if entry.flaky else ""
            lines.append(
                f"- {cases} on {', '.join(entry.servers)}{flaky} ({entry.grade}, "
                f"{entry.clause}): {_cell(entry.why)}"
            )
    return "\n".join(lines) + "\n"


def to_json(rows: list[dict[str, Any]], *, strict: bool) -> dict[str, Any]:
    """The matrix document: servers with versions, and every row."""
    return {
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "strict": strict,
        "servers": _server_info(servers_of(rows)),
        "rows": [{key: row[key] for key in ROW_KEYS} for row in rows],
    }


def write(
    rows: list[dict[str, Any]], out: Path, *, strict: bool, deviations: Deviations
) -> list[Path]:
    """Write ``matrix.json`` and ``matrix.md`` into ``out`` (atomically); return the paths."""
    json_path = out / "matrix.json"
    md_path = out / "matrix.md"
    write_atomic(json_path, json.dumps(to_json(rows, strict=strict), indent=1) + "\n")
    write_atomic(md_path, to_markdown(rows, strict=strict, deviations=deviations))
    return [json_path, md_path]
