"""The report of a run with confidence intervals: ratios from paired rounds with
their interval and verdict, TLS vs plain, the cost per message, unstable and
noisy cells named, and the summary's charts drawn the same for the same data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from channels_harness.report import markdown, plots, summary
from channels_harness.report.model import Run
from channels_harness.report.rows import HandshakeRow, ThroughputRow
from channels_harness.runtime import confidence
from channels_harness.runtime.noise import Noise

SERIES = "throughput c=50 32B-text"
LOAD = [1.0, 0.7, 1.2, 0.9, 1.1]  # the machine's load, round by round, hits every cell


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
    noisy = [1.0, 1.3, 0.8, 1.1, 0.9]
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
