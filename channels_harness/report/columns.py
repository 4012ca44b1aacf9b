"""Columns and sections: what a report table shows, defined once per section.

A :class:`Section` names its row type, title, plots and :class:`Column` list;
the Markdown report, the HTML page (rendered from the Markdown), the console
tables and the CSV export all take their columns from it, so a header or a
field is changed in one place. The sections themselves are in
:mod:`channels_harness.report.sections`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic

from channels_harness.report.rows import R, rows_of, unstacked


def fmt(value: float | None, digits: int = 3) -> str:
    """A number with a sensible number of significant digits."""
    if value is None:
        return ""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.{digits}g}"


def text(value: Any) -> str:
    """How a cell value reads in a table: blank for None, yes/no, numbers by :func:`fmt`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return fmt(value)
    return str(value)


@dataclass(frozen=True)
class Column(Generic[R]):
    """One column: its header and the row field it shows (or a function of the row)."""

    header: str
    field: str
    compute: Callable[[R], Any] | None = None

    def value(self, row: R) -> Any:
        """The cell's value for ``row`` (raw, for CSV; :func:`text` makes it readable)."""
        return self.compute(row) if self.compute is not None else getattr(row, self.field)


@dataclass(frozen=True)
class Section(Generic[R]):
    """A report section: its rows' type, title, plots (alt text, plot name) and columns.

    ``intro`` comes before the plots, ``footer`` after the table; ``order`` sorts
    the rows (data order otherwise) and ``where`` keeps only some of them;
    ``derive``, when given, makes the rows from the whole document instead of
    reading them as stored (figures a renderer recomputes from stored runs).
    """

    kind: type[R]
    title: str
    columns: tuple[Column[R], ...]
    plots: tuple[tuple[str, str], ...] = ()
    intro: str = ""
    footer: str = ""
    order: Callable[[R], Any] | None = None
    where: Callable[[R], bool] | None = None
    # Whether the section shows the rows a versions run measured in other stacks.
    stacked: bool = False
    derive: Callable[[Mapping[str, Any]], list[R]] | None = None

    @property
    def name(self) -> str:
        """The data.json section the rows come from."""
        return self.kind.SECTION

    @property
    def headers(self) -> list[str]:
        return [column.header for column in self.columns]

    def rows(self, data: Mapping[str, Any]) -> list[R]:
        """The section's rows of a data.json document, filtered and ordered."""
        if self.derive is not None:
            found = self.derive(data)
        else:
            found = rows_of(data, self.kind) if self.stacked else unstacked(data, self.kind)
        if self.where is not None:
            found = [row for row in found if self.where(row)]
        if self.order is not None:
            found = sorted(found, key=self.order)
        return found

    def values(self, rows: Sequence[R]) -> list[list[Any]]:
        """Every row's raw cell values, in column order."""
        return [[column.value(row) for column in self.columns] for row in rows]

    def texts(self, rows: Sequence[R]) -> list[list[str]]:
        """Every row's cells as text, in column order."""
        return [[text(value) for value in values] for values in self.values(rows)]
