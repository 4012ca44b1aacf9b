"""Summaries of the statistics locust writes at shutdown (``--json-file``).

Locust's JSON is a list of entries, one per (request type, name), each with
counts, the total response time, a histogram ``response_times`` keyed by the
bucketed time in milliseconds (as strings once in JSON), and per-second request
counts. Percentiles are computed here from that histogram, so they carry the
resolution the locust process bucketed with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class EntrySummary:
    """One request type and name over a whole locust run."""

    request_type: str
    name: str
    requests: int
    failures: int
    avg_ms: float
    min_ms: float
    max_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    per_s: float
    start: float
    last: float


def histogram(entry: dict[str, Any]) -> dict[float, int]:
    """The entry's response time histogram with float keys (milliseconds)."""
    return {float(key): int(count) for key, count in entry.get("response_times", {}).items()}


def percentile(times: dict[float, int], fraction: float) -> float:
    """The smallest bucket at or below which ``fraction`` of the requests fall (0 if none)."""
    total = sum(times.values())
    if total == 0:
        return 0.0
    threshold = fraction * total
    seen = 0
    for key in sorted(times):
        seen += times[key]
        if seen >= threshold:
            return key
    return max(times)


def steady_rate(entry: dict[str, Any]) -> float:
    """Requests per second over the whole seconds of the run.

    The first and the last second are partial (users starting, the run ending)
    and left out when at least one whole second lies between them; otherwise the
    rate is the count over the span from the first to the last request.
    """
    per_second = {int(key): int(count) for key, count in entry.get("num_reqs_per_sec", {}).items()}
    if len(per_second) >= 3:
        first, last = min(per_second), max(per_second)
        inner = range(first + 1, last)
        return sum(per_second.get(second, 0) for second in inner) / len(inner)
    start = float(entry.get("start_time") or 0.0)
    last_ts = float(entry.get("last_request_timestamp") or start)
    span = last_ts - start
    return entry["num_requests"] / span if span > 0 else 0.0


def summarize(entry: dict[str, Any]) -> EntrySummary:
    """Counts, mean, extremes, p50/p95/p99 and steady rate of one locust entry."""
    times = histogram(entry)
    requests = int(entry["num_requests"])
    timed = requests - int(entry.get("num_none_requests") or 0)
    low = float(entry.get("min_response_time") or 0.0)
    high = float(entry.get("max_response_time") or 0.0)

    def clamped(fraction: float) -> float:
        # A bucket is a rounded time: keep it within the extremes actually seen.
        return min(max(percentile(times, fraction), low), high)

    return EntrySummary(
        request_type=entry["method"],
        name=entry["name"],
        requests=requests,
        failures=int(entry["num_failures"]),
        avg_ms=float(entry["total_response_time"]) / timed if timed else 0.0,
        min_ms=low,
        max_ms=high,
        p50_ms=clamped(0.50),
        p95_ms=clamped(0.95),
        p99_ms=clamped(0.99),
        per_s=steady_rate(entry),
        start=float(entry.get("start_time") or 0.0),
        last=float(entry.get("last_request_timestamp") or 0.0),
    )


def load_entries(path: Path) -> list[dict[str, Any]]:
    """The entries of a locust ``--json-file`` output; ValueError if it is not one."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list) or not all(
        isinstance(entry, dict) and "method" in entry and "num_requests" in entry for entry in data
    ):
        raise ValueError(f"{path} is not locust's JSON statistics (a list of entries)")
    return data


def by_type(entries: list[dict[str, Any]]) -> dict[str, EntrySummary]:
    """Summaries keyed by request type (one name per type in a harness cell)."""
    return {entry["method"]: summarize(entry) for entry in entries}
