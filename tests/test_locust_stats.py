"""Reading locust's final statistics and comparing cells (pure functions, no locust)."""

from __future__ import annotations

from typing import Any

from channels_harness.experiments.load.locuststats import percentile, steady_rate, summarize
from channels_harness.experiments.load.table import comparison_rows, ratio
from channels_harness.report.rows import LocustRow


def entry(**overrides: Any) -> dict[str, Any]:
    """A locust ``--json-file`` entry as locust writes it (keys of the histogram are strings)."""
    base: dict[str, Any] = {
        "name": "echo/async",
        "method": "WS",
        "last_request_timestamp": 1004.5,
        "start_time": 1000.2,
        "num_requests": 100,
        "num_none_requests": 0,
        "num_failures": 0,
        "total_response_time": 50.0,
        "max_response_time": 3.004,
        "min_response_time": 0.101,
        "total_content_length": 3200,
        "response_times": {"0.1": 50, "0.25": 45, "1.5": 4, "3.0": 1},
        "num_reqs_per_sec": {"1000": 10, "1001": 20, "1002": 30, "1003": 40, "1004": 0},
        "num_fail_per_sec": {},
    }
    return {**base, **overrides}


def test_percentiles_come_from_the_fine_histogram() -> None:
    times = {0.1: 50, 0.25: 45, 1.5: 4, 3.0: 1}
    assert percentile(times, 0.50) == 0.1
    assert percentile(times, 0.51) == 0.25
    assert percentile(times, 0.95) == 0.25
    assert percentile(times, 0.99) == 1.5
    assert percentile(times, 1.0) == 3.0
    assert percentile({}, 0.5) == 0.0


def test_the_steady_rate_leaves_out_the_partial_first_and_last_seconds() -> None:
    assert steady_rate(entry()) == (20 + 30 + 40) / 3


def test_a_short_run_rate_falls_back_to_the_span_of_requests() -> None:
    short = entry(num_reqs_per_sec={"1000": 60, "1001": 40})
    assert steady_rate(short) == 100 / (1004.5 - 1000.2)


def test_summaries_clamp_buckets_to_the_extremes_seen() -> None:
    summary = summarize(entry())
    assert summary.requests == 100
    assert summary.avg_ms == 0.5
    assert summary.p50_ms == 0.101  # bucket 0.1 is below the fastest request
    assert summary.p99_ms == 1.5
    assert summarize(entry(max_response_time=1.2)).p99_ms == 1.2


def row(server: str, flavour: str, rate: float) -> LocustRow:
    return LocustRow(
        scenario="echo",
        server=server,
        flavour=flavour,
        msgs_per_s=rate,
        p50_ms=1.0,
        p95_ms=2.0,
        p99_ms=3.0,
        failures=0,
        generator_cpu=0.95,
        generator_bound=True,
        server_cpu=0.5,
    )


def test_ratios_compare_sync_with_async_and_servers_with_the_first() -> None:
    rows = [
        row("daphne", "sync", 1000),
        row("daphne", "async", 2000),
        row("uvicorn", "sync", 1500),
        row("uvicorn", "async", 4500),
        row("raw-echo", "none", 9000),
    ]
    lines = {line["cell"]: line for line in comparison_rows(rows)}
    assert lines["daphne async"]["vs sync"] == "2.00x"
    assert lines["uvicorn async"]["vs sync"] == "3.00x"
    assert lines["uvicorn async"]["vs first server"] == "2.25x"
    assert lines["uvicorn sync"]["vs raw"] == "0.17x"
    assert lines["daphne sync"]["vs sync"] == "-"
    assert lines["raw-echo none"]["vs raw"] == "-"
    assert lines["daphne sync"]["generator CPU"] == "95%!"


def test_a_ratio_without_a_reference_is_a_dash() -> None:
    assert ratio(5.0, None) == "-"
    assert ratio(5.0, 0.0) == "-"


def test_repeated_cells_show_the_median_rate_and_its_spread() -> None:
    rows = [row("uvicorn", "async", rate) for rate in (900, 1000, 1300)]
    (line,) = comparison_rows(rows)
    assert line["rate"] == "1000 ±20%"
