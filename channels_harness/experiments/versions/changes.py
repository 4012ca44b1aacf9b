"""Each stack of a ``versions`` run against the first: throughput ratios and grade changes.

Computed from the run's own rows (each tagged with its stack), once, when every
stack is measured; the results are rows like any other (``versions`` and
``version_changes`` in data.json), so every renderer reads them the same way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from channels_harness.report.grades import DEVIATING_GRADES
from channels_harness.report.rows import (
    ConformanceRow,
    ThroughputRow,
    VersionChangeRow,
    VersionRow,
    rows_of,
)
from channels_harness.report.stacks import headline, versus_first, with_ratio
from channels_harness.report.summary import headline_cell
from channels_harness.servers.reference import FLAVOURS

Cell = tuple[str, str]  # (server, flavour)
Grades = dict[tuple[str, str, str], ConformanceRow]  # (server, flavour, case) -> row


def _flavour_key(flavour: str) -> tuple[int, str]:
    return (FLAVOURS.index(flavour) if flavour in FLAVOURS else len(FLAVOURS), flavour)


def _of_stack(rows: Sequence[Any], stack: Mapping[str, str]) -> list[Any]:
    return [row for row in rows if row.stack == stack]


def _grades(rows: Sequence[ConformanceRow]) -> Grades:
    return {(row.server, row.flavour, row.case): row for row in rows}


def _changed(grades: Grades, first: Grades) -> set[tuple[str, str, str]]:
    """The (server, flavour, case) whose grade differs from the first stack's (or is
    missing on one side, where both stacks ran that server and flavour)."""
    cells = {key[:2] for key in grades} & {key[:2] for key in first}
    keys = {key for key in grades.keys() | first.keys() if key[:2] in cells}
    return {
        key
        for key in keys
        if (grades[key].grade if key in grades else "-")
        != (first[key].grade if key in first else "-")
    }


def _version_rows(
    label: str,
    stack: dict[str, str],
    is_first: bool,
    through: tuple[dict[Cell, ThroughputRow], dict[Cell, ThroughputRow]],
    grades: tuple[Grades, Grades],
) -> list[VersionRow]:
    (own, first_cells), (own_grades, first_grades) = through, grades
    changed = _changed(own_grades, first_grades) if own_grades and first_grades else None
    cells = set(own) | {key[:2] for key in own_grades}
    found = []
    for server, flavour in sorted(cells, key=lambda c: (c[0], _flavour_key(c[1]))):
        row, base = own.get((server, flavour)), first_cells.get((server, flavour))
        graded = [g for key, g in own_grades.items() if key[:2] == (server, flavour)]
        version = VersionRow(
            stack_label=label,
            stack=stack,
            first=is_first,
            server=server,
            flavour=flavour,
            concurrency=row.concurrency if row else None,
            payload=row.payload if row else None,
            msgs_per_s=row.msgs_per_s if row else None,
            spread_pct=row.spread_pct if row else None,
            generator_bound=bool(row.generator_bound) if row else False,
            deviations=sum(g.grade in DEVIATING_GRADES for g in graded) if graded else None,
            changed=(
                None
                if changed is None or not graded
                else sum(key[:2] == (server, flavour) for key in changed)
            ),
        )
        found.append(with_ratio(version, versus_first(row, base)))
    return found


def _change_rows(
    label: str, stack: dict[str, str], grades: Grades, first: Grades
) -> list[VersionChangeRow]:
    """One row per server, case and (before, after) pair, the flavours that share it joined."""
    flavours: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
    for server, flavour, case in _changed(grades, first):
        before = first[(server, flavour, case)].grade if (server, flavour, case) in first else "-"
        after = grades[(server, flavour, case)].grade if (server, flavour, case) in grades else "-"
        flavours[(server, case, before, after)].append(flavour)
    rows = []
    for (server, case, before, after), names in sorted(flavours.items()):
        names.sort(key=_flavour_key)
        seen = grades.get((server, names[0], case)) or first[(server, names[0], case)]
        rows.append(
            VersionChangeRow(
                stack_label=label,
                stack=stack,
                server=server,
                case=case,
                clause=seen.clause,
                flavours=", ".join(names),
                before=before,
                after=after,
                observed=seen.observed if (server, names[0], case) in grades else "",
            )
        )
    return rows


def compare(
    data: Mapping[str, Any], stacks: Sequence[tuple[str, dict[str, str]]]
) -> list[VersionRow | VersionChangeRow]:
    """The ``versions`` rows (every stack, server and flavour) and the ``version_changes``
    rows (every stack after the first) of a run whose rows carry these ``stacks``
    (label, stack), the first being the one the others are compared with."""
    if not stacks:
        return []
    throughput = rows_of(data, ThroughputRow)
    conformance = rows_of(data, ConformanceRow)
    first_stack = stacks[0][1]
    first_rows = _of_stack(throughput, first_stack)
    cell = headline_cell(first_rows)
    first_cells = headline(first_rows, cell)
    first_grades = _grades(_of_stack(conformance, first_stack))
    found: list[VersionRow | VersionChangeRow] = []
    changes: list[VersionChangeRow] = []
    for index, (label, stack) in enumerate(stacks):
        own = headline(_of_stack(throughput, stack), cell)
        grades = _grades(_of_stack(conformance, stack))
        found += _version_rows(label, stack, index == 0, (own, first_cells), (grades, first_grades))
        if index and grades and first_grades:
            changes += _change_rows(label, stack, grades, first_grades)
    return [*found, *changes]
