"""A :class:`~channels_harness.report.compare.Comparison` as a console table,
Markdown, JSON and JUnit XML (one testcase per compared cell, a failure element
per regression, so CI systems show each regression by name)."""

from __future__ import annotations

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
    if value.high - value.low <= 1e-9 * max(1.0, abs(value.value)):
        return fmt(value.value)
    return f"{fmt(value.value)} [{fmt(value.low)}-{fmt(value.high)}]"


def _cells(change: Change) -> list[str]:
    pct = "" if change.change_pct is None else f"{change.change_pct:+.1f}%"
    verdict = f"REGRESSION: {change.regression}" if change.regression else "ok"
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
    return (
        f"{len(comparison.changes)} cells compared ({graded} conformance grades), "
        f"{regressions} regression(s); {len(comparison.only_old)} only in the old run, "
        f"{len(comparison.only_new)} only in the new one."
    )


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
        out.add_row(*_cells(change), style="red" if change.regression else None)
    return out


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
    lines += [
        "## Every compared cell",
        "",
        "Intervals in brackets are 95% confidence intervals, or the range of repeated runs; "
        "a change counts only when it crosses its threshold and the two intervals do not "
        "overlap. Conformance cells are listed when their grade changed.",
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
    return {"value": value.value, "low": value.low, "high": value.high}


def to_json(comparison: Comparison) -> dict[str, Any]:
    """The comparison as JSON-ready data."""
    return {
        "old": comparison.old_id,
        "new": comparison.new_id,
        "regressions": len(comparison.regressions),
        "changes": [
            {
                "kind": c.kind,
                "cell": c.cell,
                "metric": c.metric,
                "old": _plain(c.old),
                "new": _plain(c.new),
                "change_pct": c.change_pct,
                "regression": c.regression,
            }
            for c in comparison.changes
        ],
        "only_old": comparison.only_old,
        "only_new": comparison.only_new,
    }


def to_junit(comparison: Comparison) -> bytes:
    """JUnit XML: one testsuite per kind, one testcase per compared cell."""
    return junit.write(
        f"channels-harness compare {comparison.new_id}",
        (
            junit.Case(
                suite=change.kind,
                classname=change.kind,
                name=f"{change.cell} {change.metric}",
                failure="regression" if change.regression else None,
                message=change.regression or "",
                detail=f"old {_figure(change.old)}, new {_figure(change.new)}",
            )
            for change in comparison.changes
        ),
    )
