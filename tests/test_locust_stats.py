"""Reading locust's final statistics and comparing cells (pure functions, no locust)."""

from __future__ import annotations

from typing import Any

from channels_harness.experiments.load.locuststats import percentile, steady_rate, summarize
from channels_harness.report.loadcells import load_cells
from channels_harness.report.rows import LocustRow
from channels_harness.report.sections import load_comparison


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
    spec = load_comparison("daphne", churn=False, memory=False)
    lines = {
        line[0]: dict(zip(spec.headers, line, strict=True)) for line in spec.texts(load_cells(rows))
    }
    assert lines["daphne async"]["/sync"] == "2.00x"
    assert lines["uvicorn async"]["/sync"] == "3.00x"
    assert lines["uvicorn async"]["/daphne"] == "2.25x"
    assert lines["uvicorn sync"]["/raw"] == "0.17x"
    assert lines["daphne sync"]["/sync"] == "-"
    assert lines["raw-echo none"]["/raw"] == "-"
    assert lines["daphne sync"]["gen"] == "95%!"


def test_a_ratio_without_a_reference_is_a_dash() -> None:
    (cell,) = load_cells([row("uvicorn", "async", 5.0)])
    assert (cell.vs_sync, cell.vs_first, cell.vs_raw) == (None, None, None)
    spec = load_comparison("uvicorn", churn=False, memory=False)
    assert spec.texts([cell])[0][spec.headers.index("/sync")] == "-"


def test_repeated_cells_show_the_median_rate_and_its_spread() -> None:
    rows = [row("uvicorn", "async", rate) for rate in (900, 1000, 1300)]
    spec = load_comparison("uvicorn", churn=False, memory=False)
    (line,) = spec.texts(load_cells(rows))
    assert line[1] == "1000 ±20%"
