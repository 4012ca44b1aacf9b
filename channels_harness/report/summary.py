"""The verdict of a run, computed from its data alone.

Everything a reader sees first (Sync vs Async per server, server vs server,
the generator's headroom, each server's conformance deviations) is derived
here, once, so report.md, report.html, the console, the results index and
``report --compare`` all say the same thing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from channels_harness.report.grades import DEVIATING_GRADES
from channels_harness.report.rows import (
    ConformanceFeatureRow,
    ConformanceRow,
    HeadroomRow,
    Row,
    ThroughputRow,
    rows_of,
    unstacked,
)

SYNC_ASYNC_PAIRS = (("sync", "async"), ("generic-sync", "generic-async"))

Data = Mapping[str, Any]


@dataclass(frozen=True)
class Ratio:
    """``numerator / denominator`` of two medians, with the range their runs allow."""

    label: str
    value: float
    low: float
    high: float
    numerator: str
    denominator: str

    def text(self) -> str:
        if abs(self.high - self.low) < 0.005:
            return f"{self.value:.2f}x"
        return f"{self.value:.2f}x ({self.low:.2f}-{self.high:.2f})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "value": round(self.value, 3),
            "low": round(self.low, 3),
            "high": round(self.high, 3),
            "numerator": self.numerator,
            "denominator": self.denominator,
        }


def _runs(row: ThroughputRow) -> list[float]:
    runs = [float(v) for v in row.msgs_per_s_runs or [] if v]
    return runs or [float(row.msgs_per_s)]


def ratio(label: str, top: ThroughputRow, bottom: ThroughputRow, key: str) -> Ratio | None:
    """The ratio of two cells' medians and the extremes of their runs."""
    top_runs, bottom_runs = _runs(top), _runs(bottom)
    if not top_runs or not bottom_runs or min(bottom_runs) <= 0:
        return None
    return Ratio(
        label=label,
        value=float(top.msgs_per_s) / float(bottom.msgs_per_s),
        low=min(top_runs) / max(bottom_runs),
        high=max(top_runs) / min(bottom_runs),
        numerator=str(getattr(top, key, "")),
        denominator=str(getattr(bottom, key, "")),
    )


def headline_cell(rows: list[ThroughputRow]) -> tuple[str, int] | None:
    """The (payload, concurrency) measured for the most server x flavour pairs:
    the cell every comparison in the summary uses."""
    counts: Counter[tuple[str, int]] = Counter()
    for row in rows:
        if row.scenario == "echo" and row.msgs_per_s:
            counts[(str(row.payload), int(row.concurrency or 0))] += 1
    if not counts:
        return None
    return max(counts, key=lambda cell: (counts[cell], cell[0] == "32B-text", cell[1]))


def headline_rows(data: Data) -> list[ThroughputRow]:
    """Throughput rows of the headline cell (generator-bound ones included)."""
    rows = unstacked(data, ThroughputRow)
    cell = headline_cell(rows)
    if cell is None:
        return []
    payload, concurrency = cell
    return [
        row
        for row in rows
        if str(row.payload) == payload
        and int(row.concurrency or 0) == concurrency
        and row.scenario == "echo"
        and row.msgs_per_s
    ]


def sync_vs_async(data: Data) -> list[Ratio]:
    """Per server: async msgs/s over sync msgs/s (and generic-async over generic-sync)."""
    by_server: dict[str, dict[str, ThroughputRow]] = defaultdict(dict)
    for row in headline_rows(data):
        by_server[row.server][row.flavour] = row
    ratios = []
    for server, flavours in sorted(by_server.items()):
        for sync, asynchronous in SYNC_ASYNC_PAIRS:
            if sync in flavours and asynchronous in flavours:
                label = f"{server}: {asynchronous} / {sync}"
                found = ratio(label, flavours[asynchronous], flavours[sync], "flavour")
                if found:
                    ratios.append(found)
    return ratios


def server_vs_server(data: Data) -> list[Ratio]:
    """Per flavour: every server's msgs/s over the slowest server's."""
    by_flavour: dict[str, list[ThroughputRow]] = defaultdict(list)
    for row in headline_rows(data):
        by_flavour[row.flavour].append(row)
    ratios = []
    for flavour, rows in sorted(by_flavour.items()):
        if len(rows) < 2:
            continue
        slowest = min(rows, key=lambda r: float(r.msgs_per_s))
        for row in sorted(rows, key=lambda r: -float(r.msgs_per_s)):
            if row is slowest:
                continue
            found = ratio(f"{flavour}: {row.server} / {slowest.server}", row, slowest, "server")
            if found:
                ratios.append(found)
    return ratios


def fastest_cells(data: Data, count: int = 3) -> list[ThroughputRow]:
    """The fastest server-limited cells of the headline column."""
    rows = [row for row in headline_rows(data) if not row.generator_bound]
    return sorted(rows, key=lambda r: -float(r.msgs_per_s))[:count]


@dataclass(kw_only=True)
class Deviation(Row):
    """One case a server deviated on: the worst grade any flavour got, and which flavours."""

    SECTION: ClassVar[str] = ""
    server: str
    case: str
    clause: str
    grade: str
    observed: str
    flavours: str


def deviations(data: Data) -> dict[str, list[Deviation]]:
    """Per server, one row per case graded FAIL or NON-STRICT (FAIL where any flavour
    failed; the observation of the first flavour with that grade), in data order."""
    rows = unstacked(data, ConformanceRow)
    kept: dict[str, dict[str, ConformanceRow]] = defaultdict(dict)
    flavours: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in rows:
        if row.grade in DEVIATING_GRADES:
            flavours[(row.server, row.case)].add(str(row.flavour))
            first = kept[row.server].get(row.case)
            if first is None or (row.grade == "FAIL" and first.grade != "FAIL"):
                kept[row.server][row.case] = row
    return {
        server: [
            Deviation(
                server=server,
                case=row.case,
                clause=row.clause,
                grade=row.grade,
                observed=row.observed,
                flavours=", ".join(sorted(flavours[(server, row.case)])),
            )
            for row in cases.values()
        ]
        for server, cases in sorted(kept.items())
    }


@dataclass(kw_only=True)
class FeatureLine(Row):
    """One line of the feature table: a feature and what each server showed of it."""

    SECTION: ClassVar[str] = ""
    feature: str
    values: dict[str, str]


def feature_lines(data: Data) -> tuple[list[str], list[FeatureLine]]:
    """The servers of the conformance feature table, and one line per feature."""
    rows = rows_of(data, ConformanceFeatureRow)
    servers = list(dict.fromkeys(row.server for row in rows))
    by_feature: dict[str, dict[str, str]] = {}
    for row in rows:
        by_feature.setdefault(row.feature, {})[row.server] = row.value
    return servers, [FeatureLine(feature=f, values=v) for f, v in by_feature.items()]


def grade_counts(data: Data) -> dict[str, Counter[str]]:
    """Per server, how many conformance rows got each grade."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for row in unstacked(data, ConformanceRow):
        counts[row.server][row.grade or "?"] += 1
    return dict(sorted(counts.items()))


def headroom(data: Data) -> HeadroomRow | None:
    """The run's last headroom measurement, if any."""
    rows = unstacked(data, HeadroomRow)
    return rows[-1] if rows else None


def headline(data: Data) -> dict[str, Any]:
    """The handful of figures the results index shows for a run."""
    cell = headline_cell(unstacked(data, ThroughputRow))
    fastest = fastest_cells(data, 1)
    room = headroom(data)
    return {
        "cell": {"payload": cell[0], "concurrency": cell[1]} if cell else None,
        "fastest": (
            {
                "server": fastest[0].server,
                "flavour": fastest[0].flavour,
                "msgs_per_s": fastest[0].msgs_per_s,
            }
            if fastest
            else None
        ),
        "sync_vs_async": [r.as_dict() for r in sync_vs_async(data)],
        "headroom_ratio": room.ratio if room else None,
        "deviations": {server: len(rows) for server, rows in deviations(data).items()},
    }
