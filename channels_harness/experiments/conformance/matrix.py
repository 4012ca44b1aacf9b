"""The conformance matrix: rows as JSON, and Markdown that renders on a code host."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from channels_harness.experiments.conformance.deviations import Deviations
from channels_harness.experiments.conformance.featuretable import feature_table
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
    "would_be",
    "observation",
)
GRADE_ORDER = ("PASS", "NON-STRICT", "FAIL", "INFO", "N/A")
GRADE_DEVIATIONS = ("NON-STRICT", "FAIL")


def row_order(row: dict[str, Any]) -> tuple[Any, ...]:
    """Sort rows by area, case, server (registry order), flavour."""
    server_rank = list(SERVERS).index(row["server"]) if row["server"] in SERVERS else 99
    return (row["area"], row["case"], server_rank, row["flavour"])


def _server_info(names: list[str], remote: str | None = None) -> dict[str, dict[str, str]]:
    """What the registry says of each server; ``remote`` (a running server of --url
    given a registry name) is not the install here, so only its name is known."""
    info = {}
    for name in names:
        if name == remote:
            info[name] = {"name": name, "version": "not known (a running server)"}
            continue
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


def grade_label(row: dict[str, Any]) -> str:
    """The grade as a reader sees it: an N/A case that ran anyway says what it would be."""
    would_be = row.get("would_be") or ""
    if row["grade"] == "N/A" and would_be:
        return f"N/A (would be {would_be})"
    return str(row["grade"])


def _grid_cell(rows: list[dict[str, Any]]) -> str:
    grades = {row["flavour"]: grade_label(row) for row in rows}
    distinct = set(grades.values())
    if len(distinct) == 1:
        return distinct.pop()
    return " ".join(f"{flavour}:{grade}" for flavour, grade in sorted(grades.items()))


def to_markdown(
    rows: list[dict[str, Any]], *, strict: bool, deviations: Deviations, remote: str | None = None
) -> str:
    """The matrix as Markdown: summary, deviations with clauses, full grid, INFO values
    (``remote``: see :func:`write`)."""
    servers = servers_of(rows)
    info = _server_info(servers, remote)
    counts = summary(rows)
    lines = [
        "# Conformance matrix",
        "",
        f"Generated {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}; "
        f"{len({r['case'] for r in rows})} cases, {len(rows)} rows"
        f"{', strict mode' if strict else ''}. Grades: PASS, NON-STRICT (a SHOULD missed), "
        "FAIL (a MUST broken), INFO (recorded value), N/A (spec version or extension "
        'not advertised; "N/A (would be FAIL)" when the case ran anyway and deviated).',
        "",
        *_features_markdown(rows, servers),
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
    lines += ["", "## Deviations", "", *_deviations_markdown(rows, servers)]
    lines += _would_be_markdown(rows)
    lines += _grid_markdown(rows, servers)
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


def _deviations_markdown(rows: list[dict[str, Any]], servers: list[str]) -> list[str]:
    """Per server, the FAIL and NON-STRICT cases with clause, observation and whether known."""
    deviating = [r for r in rows if r["grade"] in GRADE_DEVIATIONS]
    if not deviating:
        return ["None.", ""]
    lines: list[str] = []
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
    return lines


def _grid_markdown(rows: list[dict[str, Any]], servers: list[str]) -> list[str]:
    """Every case by server, one cell per server (flavours named when they differ)."""
    lines = ["## Matrix", "", "| area | case | clause | " + " | ".join(servers) + " |"]
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
    return lines


def _features_markdown(rows: list[dict[str, Any]], servers: list[str]) -> list[str]:
    """The feature table (feature by server), or nothing when no case recorded one."""
    table = feature_table(rows, servers)
    if not table:
        return []
    values = {(entry["feature"], entry["server"]): entry["value"] for entry in table}
    features = list(dict.fromkeys(entry["feature"] for entry in table))
    lines = [
        "## Features (as observed)",
        "",
        "| feature | " + " | ".join(servers) + " |",
        "|---|" + "---|" * len(servers),
    ]
    for feature in features:
        cells = [_cell(values.get((feature, server), "-")) for server in servers]
        lines.append(f"| {feature} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _would_be_markdown(rows: list[dict[str, Any]]) -> list[str]:
    """N/A rows that ran anyway and deviated: nothing hides behind N/A."""
    hidden = [r for r in rows if r["grade"] == "N/A" and r.get("would_be") in GRADE_DEVIATIONS]
    if not hidden:
        return []
    lines = [
        "## Not applicable, but deviated when run anyway",
        "",
        "| case | server | flavours | would be | observed |",
        "|---|---|---|---|---|",
    ]
    grouped: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
    for row in hidden:
        grouped[(row["case"], row["server"], row["would_be"], row["observed"])].append(
            row["flavour"]
        )
    for (case, server, would_be, observed), flavours in grouped.items():
        lines.append(
            f"| `{case}` | {server} | {','.join(sorted(flavours))} | {would_be} | "
            f"{_cell(observed)} |"
        )
    return [*lines, ""]


def to_json(
    rows: list[dict[str, Any]], *, strict: bool, remote: str | None = None
) -> dict[str, Any]:
    """The matrix document: servers with versions, the feature table and every row
    (``remote``: see :func:`write`)."""
    servers = servers_of(rows)
    return {
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "strict": strict,
        "servers": _server_info(servers, remote),
        "features": feature_table(rows, servers),
        "rows": [{key: row.get(key, "") for key in ROW_KEYS} for row in rows],
    }


def write(
    rows: list[dict[str, Any]],
    out: Path,
    *,
    strict: bool,
    deviations: Deviations,
    remote: str | None = None,
) -> list[Path]:
    """Write ``matrix.json`` and ``matrix.md`` into ``out`` (atomically); return the paths.

    ``remote``: the name given to a running server (``--url``); its version is not
    the registry's install, so it is described by its name alone.
    """
    json_path = out / "matrix.json"
    md_path = out / "matrix.md"
    document = to_json(rows, strict=strict, remote=remote)
    write_atomic(json_path, json.dumps(document, indent=1) + "\n")
    write_atomic(md_path, to_markdown(rows, strict=strict, deviations=deviations, remote=remote))
    return [json_path, md_path]
