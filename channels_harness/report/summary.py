"""The verdict of a run, computed from its data alone.

Everything a reader sees first (Sync vs Async per server, server vs server,
the generator's headroom, each server's conformance deviations) is derived
here, once, so report.md, report.html, the results index and ``report
--compare`` all say the same thing.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

SYNC_ASYNC_PAIRS = (("sync", "async"), ("generic-sync", "generic-async"))
DEVIATING_GRADES = ("FAIL", "NON-STRICT")
GRADE_ORDER = ("PASS", "NON-STRICT", "FAIL", "INFO", "N/A")


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


def _runs(row: dict[str, Any]) -> list[float]:
    runs = [float(v) for v in row.get("msgs_per_s_runs") or [] if v]
    return runs or [float(row["msgs_per_s"])]


def ratio(label: str, top: dict[str, Any], bottom: dict[str, Any], key: str) -> Ratio | None:
    """The ratio of two cells' medians and the extremes of their runs."""
    top_runs, bottom_runs = _runs(top), _runs(bottom)
    if not top_runs or not bottom_runs or min(bottom_runs) <= 0:
        return None
    value = float(top["msgs_per_s"]) / float(bottom["msgs_per_s"])
    return Ratio(
        label=label,
        value=value,
        low=min(top_runs) / max(bottom_runs),
        high=max(top_runs) / min(bottom_runs),
        numerator=str(top.get(key, "")),
        denominator=str(bottom.get(key, "")),
    )


def headline_cell(rows: list[dict[str, Any]]) -> tuple[str, int] | None:
    """The (payload, concurrency) measured for the most server x flavour pairs:
    the cell every comparison in the summary uses."""
    counts: Counter[tuple[str, int]] = Counter()
    for row in rows:
        if row.get("scenario", "echo") == "echo" and row.get("msgs_per_s"):
            counts[(str(row.get("payload")), int(row.get("concurrency", 0)))] += 1
    if not counts:
        return None
    return max(counts, key=lambda cell: (counts[cell], cell[0] == "32B-text", cell[1]))


def headline_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Throughput rows of the headline cell that the server (not the generator) limited."""
    rows = data.get("throughput") or []
    cell = headline_cell(rows)
    if cell is None:
        return []
    payload, concurrency = cell
    return [
        row
        for row in rows
        if str(row.get("payload")) == payload
        and int(row.get("concurrency", 0)) == concurrency
        and row.get("scenario", "echo") == "echo"
        and row.get("msgs_per_s")
    ]


def sync_vs_async(data: dict[str, Any]) -> list[Ratio]:
    """Per server: async msgs/s over sync msgs/s (and generic-async over generic-sync)."""
    by_server: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in headline_rows(data):
        by_server[row["server"]][row["flavour"]] = row
    ratios = []
    for server, flavours in sorted(by_server.items()):
        for sync, asynchronous in SYNC_ASYNC_PAIRS:
            if sync in flavours and asynchronous in flavours:
                found = ratio(
                    f"{server}: {asynchronous} / {sync}",
                    flavours[asynchronous],
                    flavours[sync],
                    "flavour",
                )
                if found:
                    ratios.append(found)
    return ratios


def server_vs_server(data: dict[str, Any]) -> list[Ratio]:
    """Per flavour: every server's msgs/s over the slowest server's."""
    by_flavour: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in headline_rows(data):
        by_flavour[row["flavour"]].append(row)
    ratios = []
    for flavour, rows in sorted(by_flavour.items()):
        if len(rows) < 2:
            continue
        slowest = min(rows, key=lambda r: float(r["msgs_per_s"]))
        for row in sorted(rows, key=lambda r: -float(r["msgs_per_s"])):
            if row is slowest:
                continue
            found = ratio(
                f"{flavour}: {row['server']} / {slowest['server']}", row, slowest, "server"
            )
            if found:
                ratios.append(found)
    return ratios


def fastest_cells(data: dict[str, Any], count: int = 3) -> list[dict[str, Any]]:
    """The fastest server-limited cells of the headline column."""
    rows = [row for row in headline_rows(data) if not row.get("generator_bound")]
    return sorted(rows, key=lambda r: -float(r["msgs_per_s"]))[:count]


def deviations(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per server, the conformance rows graded FAIL or NON-STRICT (one per case, FAIL
    where any flavour failed)."""
    found: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in data.get("conformance") or []:
        if row.get("grade") in DEVIATING_GRADES:
            kept = found[row["server"]].get(row["case"])
            # one row per case: the worst grade any flavour got
            if kept is None or (row["grade"] == "FAIL" and kept["grade"] != "FAIL"):
                found[row["server"]][row["case"]] = row
    return {server: list(cases.values()) for server, cases in sorted(found.items())}


def grade_counts(data: dict[str, Any]) -> dict[str, Counter[str]]:
    """Per server, how many conformance rows got each grade."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for row in data.get("conformance") or []:
        counts[row["server"]][row.get("grade", "?")] += 1
    return dict(sorted(counts.items()))


def headroom(data: dict[str, Any]) -> dict[str, Any] | None:
    rows = data.get("headroom") or []
    return rows[-1] if rows else None


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def headline(data: dict[str, Any]) -> dict[str, Any]:
    """The handful of figures the results index shows for a run."""
    cell = headline_cell(data.get("throughput") or [])
    fastest = fastest_cells(data, 1)
    room = headroom(data)
    return {
        "cell": {"payload": cell[0], "concurrency": cell[1]} if cell else None,
        "fastest": (
            {
                "server": fastest[0]["server"],
                "flavour": fastest[0]["flavour"],
                "msgs_per_s": fastest[0]["msgs_per_s"],
            }
            if fastest
            else None
        ),
        "sync_vs_async": [r.as_dict() for r in sync_vs_async(data)],
        "headroom_ratio": room.get("ratio") if room else None,
        "deviations": {server: len(rows) for server, rows in deviations(data).items()},
    }
