"""Exports of a run for other tools: one CSV file per report section, with the
report's own columns (from each section's spec), raw values rather than the
report's rounded text."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from channels_harness.report import junit
from channels_harness.report.columns import Column, Section
from channels_harness.report.grades import DEVIATING_GRADES
from channels_harness.report.model import write_atomic
from channels_harness.report.rows import ConformanceFeatureRow, ConformanceRow, rows_of
from channels_harness.report.sections import DEVIATIONS, REPORT_SECTIONS
from channels_harness.report.summary import deviations

# Every graded row (the report shows only deviations and recorded values).
CONFORMANCE = Section(
    ConformanceRow,
    "Conformance",
    (
        *(Column[ConformanceRow](name, name) for name in ("case", "clause", "area", "server")),
        *(Column[ConformanceRow](name, name) for name in ("flavour", "grade", "expected")),
        Column[ConformanceRow]("observed", "observed"),
        Column[ConformanceRow]("known deviation", "known_deviation"),
        Column[ConformanceRow]("would be", "would_be"),
    ),
)
# The feature table, one line per server and feature.
CONFORMANCE_FEATURES = Section(
    ConformanceFeatureRow,
    "Conformance features",
    tuple(Column[ConformanceFeatureRow](name, name) for name in ("server", "feature", "value")),
)


def _csv(headers: list[str], values: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(headers)
    for row in values:
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()


def tables(data: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(file name, CSV text) for every section with rows."""
    for spec in (*REPORT_SECTIONS, CONFORMANCE, CONFORMANCE_FEATURES):
        rows = spec.rows(data)
        if rows:
            yield f"{spec.name}.csv", _csv(spec.headers, spec.values(rows))
    found = [row for rows in deviations(data).values() for row in rows]
    if found:
        headers = ["server", *DEVIATIONS.headers]
        values = [
            [row.server, *cells] for row, cells in zip(found, DEVIATIONS.values(found), strict=True)
        ]
        yield "deviations.csv", _csv(headers, values)


def write_csv(data: Mapping[str, Any], folder: Path) -> list[Path]:
    """Write :func:`tables` into ``folder`` (created); return the files written."""
    written = []
    for name, text in tables(data):
        path = folder / name
        write_atomic(path, text)
        written.append(path)
    return written


def conformance_junit(data: Mapping[str, Any]) -> bytes:
    """JUnit XML of the conformance rows: one testsuite per server, one testcase per
    case and flavour. A deviation not recorded as known is a failure; a known
    deviation and an N/A case are skipped with what was observed; INFO passes with
    its recorded value as output."""
    return junit.write(
        "channels-harness conformance", map(_conformance_case, rows_of(data, ConformanceRow))
    )


def _conformance_case(row: ConformanceRow) -> junit.Case:
    detail = f"{row.clause}: expected {row.expected}; observed {row.observed}"
    case = junit.Case(
        suite=row.server, classname=f"conformance.{row.server}", name=f"{row.case}[{row.flavour}]"
    )
    if row.grade in DEVIATING_GRADES and not row.known_deviation:
        return dataclasses.replace(case, failure=row.grade, message=detail)
    if row.grade in DEVIATING_GRADES:
        return dataclasses.replace(case, skipped=f"known deviation ({row.grade}): {detail}")
    if row.grade == "N/A":
        label = f"N/A (would be {row.would_be})" if row.would_be else "N/A"
        return dataclasses.replace(case, skipped=f"{label}: {detail}")
    if row.grade == "INFO":
        return dataclasses.replace(case, output=detail)
    return case
