"""The report of a run with confidence intervals: ratios from paired rounds with
their interval and verdict, TLS vs plain, the cost per message, unstable and
noisy cells named, and the summary's charts drawn the same for the same data."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from channels_harness.experiments.bench.breakdown import layer_row
from channels_harness.experiments.bench.headroom import add_headroom
from channels_harness.generators.engine import LoadConfig, LoadResult, WorkerResult
from channels_harness.report import intervals, markdown, plots, sections, summary
from channels_harness.report.model import Run
from channels_harness.report.rows import HandshakeRow, HeadroomRow, ThroughputRow, rows_of
from channels_harness.runtime import confidence
from channels_harness.runtime.noise import Noise
from channels_harness.runtime.paths import RESULTS_DIR

SERIES = "throughput c=50 32B-text"
LOAD = [1.0, 0.7, 1.2, 0.9, 1.1, 0.8]  # the machine's load, round by round, hits every cell


def _results(rates: list[float]) -> list[LoadResult]:
    """One-process closed-loop results of these rates."""
    return [
        LoadResult(
            LoadConfig(url="ws://127.0.0.1:9/"),
            workers=[WorkerResult(mode="closed", connections=50, measured=round(r), window_s=1.0)],
        )
        for r in rates
    ]


def _row(
    server: str, flavour: str, base: float, *, tls: bool = False, **extra: Any
) -> ThroughputRow:
    runs = [round(base * f, 1) for f in LOAD]
    interval = confidence.median_interval(runs)
    assert interval is not None
    return ThroughputRow(
        server=server,
        flavour=flavour,
        concurrency=50,
        payload="32B-text",
        runs=len(runs),
        msgs_per_s=interval.value,
        msgs_per_s_runs=runs,
        ci95=interval.as_list(),
        generator_bound=False,
        series=SERIES,
        unstable=interval.half_width_pct > confidence.TARGET_HALF_WIDTH_PCT,
        tls=tls,
        server_cpu_us_per_msg=1e6 / base,
        server_cpu_us_per_msg_runs=[1e6 / base] * len(runs),
        **extra,
    )


def _run(tmp_path: Path) -> Run:
    run = Run.create(tmp_path, kind="bench")
    quiet = Noise(server_cores_other_pct=1.0, generator_cores_other_pct=2.0).to_json()
    busy = Noise(server_cores_other_pct=40.0, generator_cores_other_pct=2.0, noisy=True)
    run.extend(
        [
            _row("daphne", "sync", 1000, noise=quiet),
            _row("daphne", "async", 2000, noise=busy.to_json()),
            _row("uvicorn", "sync", 1010, noise=quiet),
            _row("uvicorn", "async", 2020, noise=quiet),
            _row("uvicorn", "async", 1500, tls=True, noise=quiet),
        ]
    )
    plain, over_tls = [400.0, 410.0, 390.0], [200.0, 204.0, 196.0]
    run.extend(
        [
            HandshakeRow(
                server="uvicorn",
                flavour="async",
                handshakes_per_s=runs[0],
                handshakes_per_s_runs=runs,
                series="handshake uvicorn",
                tls=tls,
            )
            for runs, tls in ((plain, False), (over_tls, True))
        ]
    )
    return run


def test_paired_ratios_carry_their_interval_and_verdict(tmp_path: Path) -> None:
    data = _run(tmp_path).data
    ratios = {r.label: r for r in summary.sync_vs_async(data)}
    daphne = ratios["daphne: async / sync"]
    # every round's ratio is exactly 2: the load that moved the cells cancels out
    assert daphne.ci and daphne.paired and (daphne.low, daphne.value, daphne.high) == (2, 2, 2)
    assert daphne.text() == "2.00x (95% CI 2.00-2.00); unstable cells"
    versus = {r.label: r for r in summary.server_vs_server(data)}["sync: uvicorn / daphne"]
    assert versus.verdict == "" and versus.clear  # 1.01x every round: small, but clear
    tls = {r.label: r for r in summary.tls_vs_plain(data)}
    assert tls["uvicorn async: TLS / plain msgs/s"].value == 1500 / 2020
    assert round(tls["uvicorn async: TLS / plain handshakes/s"].value, 2) == 0.5
    cost = {r.label: r for r in summary.cost_sync_vs_async(data)}
    assert round(cost["uvicorn: sync / async CPU per message"].value, 2) == 2.0
    # TLS rows stay out of the headline comparisons
    assert all(not row.tls for row in summary.headline_rows(data))


def test_a_ratio_whose_interval_contains_one_reads_no_clear_difference(tmp_path: Path) -> None:
    run = Run.create(tmp_path, kind="bench")
    noisy = [1.0, 1.3, 0.8, 1.1, 0.9, 1.05]
    for flavour, wobble in (("sync", noisy), ("async", list(reversed(noisy)))):
        row = _row("uvicorn", flavour, 1000)
        row.msgs_per_s_runs = [1000 * w for w in wobble]
        run.add(row)
    [found] = summary.sync_vs_async(run.data)
    assert found.low < 1 < found.high and found.verdict == "no clear difference"
    assert "no clear difference" in markdown.verdict(run.data)


def test_the_summary_names_unstable_and_noisy_cells_and_opens_with_charts(
    tmp_path: Path,
) -> None:
    data = _run(tmp_path).data
    text = markdown.verdict(data)
    assert text.index("plots/summary_flavours.svg") < text.index("**Sync vs Async**")
    assert "**TLS vs plain**" in text and "**Cost per message**" in text
    assert "**Unstable cells**" in text and "daphne sync c=50 32B-text" in text
    assert "1 of 5 cells ran while other processes" in text
    assert "daphne async c=50 32B-text (other load on the server core(s) 40%)" in text
    rendered = markdown.render(data)
    assert "Throughput (closed loop echo)" in rendered
    header = next(line for line in rendered.splitlines() if line.startswith("| server | flavour"))
    assert "| server µs/msg |" in header, header


def test_the_summary_charts_are_drawn_the_same_for_the_same_data(tmp_path: Path) -> None:
    data = _run(tmp_path).data
    first = plots.render_all(data)
    assert {"summary_flavours", "summary_ratios", "throughput", "handshake"} <= set(first)
    assert plots.render_all(data) == first
    assert b"unstable" in first["summary_flavours"]
    assert b"TLS vs plain" in first["summary_ratios"]


# -- what each published interval rests on ------------------------------------------

VERSIONS_RUN = RESULTS_DIR / "20261130T021756Z-vm"


def test_a_run_that_measured_nothing_keeps_its_round_when_runs_are_paired(
    tmp_path: Path,
) -> None:
    # sync measured nothing in round 2, async in round 4: dropping the zeros and
    # pairing what is left would pair round 3 of sync with round 2 of async
    run = Run.create(tmp_path, kind="bench")
    for flavour, runs in (
        ("sync", [1000.0, 0.0, 1000.0, 1000.0, 1000.0, 1000.0]),
        ("async", [2000.0, 2000.0, 2000.0, 0.0, 2000.0, 2000.0]),
    ):
        row = _row("uvicorn", flavour, 1000)
        row.msgs_per_s_runs = runs
        run.add(row)
    [found] = summary.sync_vs_async(run.data)
    assert found.paired and found.value == 2.0
    # round 2 is infinitely faster, round 4 infinitely slower: the 6 rounds' ratios
    # range over everything, so the difference is not clear
    assert (found.low, found.high) == (0.0, math.inf)
    assert found.verdict == "no clear difference"


def test_stacks_of_a_versions_run_are_never_paired_round_by_round() -> None:
    data = json.loads((VERSIONS_RUN / "data.json").read_text(encoding="utf-8"))
    rows = {
        (r.stack_label, r.server, r.flavour): r for r in sections.VERSIONS.rows(data) if r.ratio
    }
    changed = "channels 4.1.0, daphne 4.2.3, uvicorn 0.54.0"
    faster = rows[(changed, "uvicorn", "async")]
    # the ratio of the medians, 16,107 / 5,826, with the range the runs allow
    assert faster.ratio == pytest.approx(16106.7 / 5825.5)
    assert (faster.ratio_low, faster.ratio_high) == (11535.1 / 6858.3, 16174.4 / 5638.5)
    assert faster.ratio_interval == "range"
    same = rows[(changed, "uvicorn", "sync")]
    assert same.ratio == pytest.approx(1.045, abs=0.001) and same.ratio_low < 1 < same.ratio_high
    report = markdown.section(data, sections.VERSIONS)
    assert f"| {changed} | uvicorn | async | 16,107 | 28.8 | 2.76x | range 1.68-2.87 |" in report
    assert b"error bars: range the runs allow" in (plots.versions(data) or b"")


def test_within_one_stack_the_flavours_still_pair_and_seven_runs_a_side_give_a_ci() -> None:
    data = json.loads((VERSIONS_RUN / "data.json").read_text(encoding="utf-8"))
    [first, later] = [
        row
        for row in rows_of(data, ThroughputRow)
        if (row.server, row.flavour) == ("uvicorn", "async")
        and row.stack is not None
        and row.stack["channels"] in ("4.3.2", "4.1.0")
        and row.stack["uvicorn"] == "0.54.0"
        and row.stack["daphne"] == "4.2.3"
    ]
    sync = next(
        row
        for row in rows_of(data, ThroughputRow)
        if (row.flavour, row.server, row.stack) == ("sync", "uvicorn", first.stack)
    )
    assert summary.ratio("", first, sync, "flavour").paired  # type: ignore[union-attr]
    across = summary.ratio("", later, first, "server")
    assert across is not None and not across.paired
    for row in data["throughput"]:
        row["msgs_per_s_runs"] = [row["msgs_per_s"] * (1 + 0.01 * i) for i in range(-3, 4)]
    ratios = {r.ratio_interval for r in sections.VERSIONS.rows(data) if r.ratio and not r.first}
    assert ratios == {"95% CI"}
    assert b"error bars: 95% CI" in (plots.versions(data) or b"")


def test_the_headroom_figure_and_its_interval_are_one_statistic(tmp_path: Path) -> None:
    run = Run.create(tmp_path, kind="bench")
    baseline, best = [90.0, 100.0, 110.0], [10.0, 12.0, 8.0]
    add_headroom(run, "uvicorn async c=50 32B-text", _results(baseline), _results(best))
    [row] = rows_of(run.data, HeadroomRow)
    # the per-round ratios are 9, 8.33 and 13.75: their median, not 100 / 10
    assert row.ratio == 9.0 and row.ratio_interval == "range" and row.ratio_ci95 is None
    interval = intervals.headroom(row)
    assert interval is not None and (round(interval.low, 2), interval.high) == (8.33, 13.75)
    text = markdown.render(run.data)
    assert "9x the best Channels cell (the median of the per-round ratios, range 8.33-13.8)" in text
    assert "| 9 | range 8.33-13.8 |" in text


def test_a_layer_that_completed_nothing_in_one_run_counts_in_its_figure_and_interval() -> None:
    row = layer_row("uvicorn", "AsyncConsumer", [1000.0, 0.0, 1000.0, 2000.0, 1000.0, 1000.0])
    assert row.msgs_per_s_runs == [1000.0, 0.0, 1000.0, 2000.0, 1000.0, 1000.0]
    assert row.us_per_msg == 1000.0  # the median rate, 1000 msgs/s, zero run included
    interval = intervals.breakdown(row)
    assert interval is not None and interval.is_ci
    assert (interval.low, interval.high) == (500.0, math.inf)
    assert row.ci95 is None  # an infinite bound is not stored
    tight = layer_row("uvicorn", "AsyncConsumer", [1000.0, 1010.0, 990.0, 1005.0, 995.0, 1000.0])
    assert tight.ci95 == [round(1e6 / 1010, 2), round(1e6 / 990, 2)]
