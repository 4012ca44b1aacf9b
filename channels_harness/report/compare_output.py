"""A :class:`~channels_harness.report.compare.Comparison` as a console table,
Markdown, JSON and JUnit XML (one testcase per compared cell, a failure element
per regression and per problem of the new run, a skipped element per undecided
cell, so CI systems show each by name). Undecided cells are listed apart in
every form."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rich.table import Table

from channels_harness.report import junit
from channels_harness.report.columns import fmt
from channels_harness.report.compare import Change, Comparison, Figure
from channels_harness.report.markdown import table

HEADERS = ("cell", "metric", "old", "new", "change", "verdict")


def _figure(value: Figure | str) -> str:
    if isinstance(value, str):
        return value
    if not value.spread:
        return fmt(value.value)
    return f"{fmt(value.value)} [{value.kind} {fmt(value.low)}-{fmt(value.high)}]"


def _verdict(change: Change) -> str:
    if change.regression:
        return f"REGRESSION: {change.regression}"
    if change.undecided:
        return f"UNDECIDED: {change.undecided}"
    return "ok"


def _cells(change: Change) -> list[str]:
    pct = "" if change.change_pct is None else f"{change.change_pct:+.1f}%"
    verdict = _verdict(change)
    return [
        f"{change.kind}: {change.cell}",
        change.metric,
        _figure(change.old),
        _figure(change.new),
        pct,
        verdict,
    ]


def shown(comparison: Comparison) -> list[Change]:
    """What the tables list: every measured cell, and the conformance cells that changed."""
    return [
        c for c in comparison.changes if c.kind != "conformance" or c.old != c.new or c.regression
    ]


def _summary(comparison: Comparison) -> str:
    graded = sum(1 for c in comparison.changes if c.kind == "conformance")
    regressions = len(comparison.regressions)
    missing = "" if comparison.limits.allow_missing or not comparison.only_old else " (failed)"
    found = (
        f"{len(comparison.changes)} cells compared ({graded} conformance grades), "
        f"{regressions} regression(s), {len(comparison.undecided)} undecided; "
        f"{len(comparison.only_old)} only in the old run{missing}, "
        f"{len(comparison.only_new)} only in the new one"
    )
    if comparison.failures:
        found += f"; {len(comparison.failures)} failed cell(s) in the new run"
    if comparison.status != "complete":
        found += f"; the new run is {comparison.status}"
    return found + "."


def to_table(comparison: Comparison) -> Table:
    """A rich table of :func:`shown`, regressions in red."""
    out = Table(
        title=f"{comparison.new_id} against {comparison.old_id}",
        caption=_summary(comparison),
        title_justify="left",
    )
    for header in HEADERS:
        out.add_column(header, justify="right" if header in ("old", "new", "change") else "left")
    for change in shown(comparison):
        style = "red" if change.regression else "yellow" if change.undecided else None
        out.add_row(*_cells(change), style=style)
    return out


def console_lines(comparison: Comparison) -> list[str]:
    """What the console prints after the table (rich markup): each regression and
    problem of the new run, then the undecided cells, apart."""
    lines = [f"[red]regression[/] {c.name}: {c.regression}" for c in comparison.regressions]
    lines += [f"[red]failed[/] {problem}" for problem in comparison.problems]
    if comparison.undecided:
        lines.append(
            f"[yellow]undecided[/] ({len(comparison.undecided)}): intervals too wide to see "
            "a change of the threshold's size; neither passed nor failed"
            + (" (--fail-undecided: failed)" if comparison.limits.fail_undecided else "")
        )
        lines += [f"[yellow]undecided[/] {c.name}: {c.undecided}" for c in comparison.undecided]
    return lines


def to_markdown(comparison: Comparison) -> str:
    """The comparison as a Markdown document."""
    lines = [
        f"# `{comparison.new_id}` compared with `{comparison.old_id}`",
        "",
        _summary(comparison),
        "",
    ]
    if comparison.regressions:
        lines += ["## Regressions", ""]
        lines += [f"- {c.name}: {c.regression}" for c in comparison.regressions]
        lines.append("")
    if comparison.problems:
        lines += ["## Failures of the new run", ""]
        lines += [f"- {problem}" for problem in comparison.problems]
        lines.append("")
    if comparison.undecided:
        lines += [
            "## Undecided",
            "",
            "Their intervals are too wide to see a change of the threshold's size, so they "
            "neither pass nor fail: measure them with more runs, or on a quieter machine.",
            "",
            *(f"- {c.name}: {c.undecided}" for c in comparison.undecided),
            "",
        ]
    lines += [
        "## Every compared cell",
        "",
        "Intervals in brackets are 95% confidence intervals, or the range of the runs where "
        "there were too few for one; a change counts only when it crosses its threshold and "
        "the two intervals do not overlap. Conformance cells are listed when their grade "
        "changed.",
        "",
        table(HEADERS, (_cells(c) for c in shown(comparison))),
        "",
    ]
    for title, names in (
        ("Only in the old run", comparison.only_old),
        ("Only in the new run", comparison.only_new),
    ):
        if names:
            lines += [f"## {title}", "", *(f"- {name}" for name in names), ""]
    return "\n".join(lines)


def _plain(value: Figure | str) -> Any:
    if isinstance(value, str):
        return value
    return {"value": value.value, "low": value.low, "high": value.high, "interval": value.kind}


def to_json(comparison: Comparison) -> dict[str, Any]:
    """The comparison as JSON-ready data."""
    return {
        "old": comparison.old_id,
        "new": comparison.new_id,
        "failed": comparison.failed,
        "regressions": len(comparison.regressions),
        "undecided": [{"name": c.name, "why": c.undecided} for c in comparison.undecided],
        "problems": comparison.problems,
        "changes": [
            {
                "kind": c.kind,
                "cell": c.cell,
                "metric": c.metric,
                "old": _plain(c.old),
                "new": _plain(c.new),
                "change_pct": c.change_pct,
                "regression": c.regression,
                "undecided": c.undecided,
            }
            for c in comparison.changes
        ],
        "only_old": comparison.only_old,
        "only_new": comparison.only_new,
        "failures": comparison.failures,
        "status": comparison.status,
    }


def _junit_case(change: Change, fail_undecided: bool) -> junit.Case:
    """One testcase: failed for a regression; for an undecided cell skipped (failed
    with ``fail_undecided``); passed otherwise."""
    detail = f"old {_figure(change.old)}, new {_figure(change.new)}"
    case = junit.Case(change.kind, change.kind, f"{change.cell} {change.metric}")
    if change.regression:
        return replace(case, failure="regression", message=change.regression, detail=detail)
    if change.undecided:
        message = f"undecided: {change.undecided} ({detail})"
        if fail_undecided:
            return replace(case, failure="undecided", message=message, detail=detail)
        return replace(case, skipped=message)
    return case


def to_junit(comparison: Comparison) -> bytes:
    """JUnit XML: one testsuite per kind, one testcase per compared cell (undecided
    ones skipped, or failed with ``fail_undecided``), and a ``run`` testsuite with
    one failed testcase per problem of the new run."""
    cases = [_junit_case(c, comparison.limits.fail_undecided) for c in comparison.changes]
    cases += [
        junit.Case("run", "run", problem, failure="run", message=problem)
        for problem in comparison.problems
    ]
    return junit.write(f"channels-harness compare {comparison.new_id}", cases)
