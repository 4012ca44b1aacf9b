"""Thresholds: ``--threshold EXPR`` on bench, load and soak.

Parsing and the verdict over rows are checked on rows built here (the
scenario files that fill ``step`` come from another part of the harness);
the commands are run for real against the reference app: a threshold every
server meets exits 0, one no server can meet exits 1 with a JUnit failure,
and a bad expression exits 2 before anything starts.
"""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from channels_harness.errors import UsageError
from channels_harness.report import markdown
from channels_harness.report.model import Run
from channels_harness.report.rows import (
    HandshakeRow,
    LocustRow,
    Row,
    SoakSummaryRow,
    ThresholdRow,
    ThroughputRow,
)
from channels_harness.report.thresholds import evaluate, parse, to_junit
from channels_harness.runtime.paths import TARGET_APP_DIR

Cli = Callable[..., "subprocess.CompletedProcess[str]"]


def throughput(server: str, step: str | None = None, **figures: Any) -> ThroughputRow:
    values: dict[str, Any] = {"msgs_per_s": 1000.0, "p95_ms": 5.0, "p99_ms": 8.0, "sent": 10_000}
    values.update(figures)
    return ThroughputRow(
        scenario="chat" if step else "echo",
        step=step,
        server=server,
        flavour="/ws/chat/c{conn}/" if step else "async",
        concurrency=50,
        payload="app" if step else "32B-text",
        runs=3,
        generator_bound=False,
        **values,
    )


def data_of(*rows: Row) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for row in rows:
        data.setdefault(row.SECTION, []).append(row.to_json())
    return data


def verdict(text: str, *rows: Row) -> ThresholdRow:
    (found,) = evaluate(data_of(*rows), [parse(text)])
    return found


# -- reading an expression -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "metric", "op", "bound", "step"),
    [
        ("p99<50ms", "p99", "<", 50.0, None),
        ("hello:p95<20ms", "p95", "<", 20.0, "hello"),
        ("errors<0.1%", "error_rate", "<", 0.1, None),
        ("errors<5", "errors", "<", 5.0, None),
        ("msgs_per_s>1000", "msgs_per_s", ">", 1000.0, None),
        ("handshakes_per_s >= 200/s", "handshakes_per_s", ">=", 200.0, None),
        ("p(95)<=0.25s", "p95", "<=", 250.0, None),
        ("p99.9<1s", "p999", "<", 1000.0, None),
        ("subscribe next:max<2ms", "max", "<", 2.0, "subscribe next"),
    ],
)
def test_an_expression_is_a_metric_a_comparison_and_a_bound(
    text: str, metric: str, op: str, bound: float, step: str | None
) -> None:
    threshold = parse(text)
    assert (threshold.metric, threshold.op, threshold.bound, threshold.step) == (
        metric,
        op,
        bound,
        step,
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("p99<50", "p99 needs a bound in ms or s"),
        ("p99<5%", "p99 needs a bound in ms or s"),
        ("msgs_per_s>5ms", "msgs_per_s is per second"),
        ("errors<0.5", "errors takes a whole count"),
        ("latency<5ms", "unknown metric 'latency'"),
        ("p99=5ms", "is not a threshold"),
        ("p99 < fast", "is not a threshold"),
        ("", "is not a threshold"),
    ],
)
def test_a_bad_expression_is_one_line_naming_what_is_allowed(text: str, says: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse(text)
    message = str(raised.value)
    assert says in message and "\n" not in message


# -- the verdict over a run's cells ---------------------------------------------------


def test_every_cell_must_hold_the_bound_and_the_verdict_names_the_cells_that_missed() -> None:
    met = verdict("p99<10ms", throughput("daphne"), throughput("uvicorn", p99_ms=9.5))
    assert met.passed and met.cells == 2 and met.missed == []
    assert (met.worst, met.worst_cell) == (9.5, "uvicorn async closed loop c=50 32B-text")
    missed = verdict("p99<9ms", throughput("daphne"), throughput("uvicorn", p99_ms=9.5))
    assert not missed.passed and missed.reason == "1 of 2 cell(s) missed"
    assert missed.missed == [{"cell": "uvicorn async closed loop c=50 32B-text", "value": 9.5}]


def test_a_lower_bound_is_missed_by_the_slowest_cell() -> None:
    found = verdict("msgs_per_s>900", throughput("daphne", msgs_per_s=850.0), throughput("x"))
    assert not found.passed and found.worst == 850.0
    assert [m["cell"] for m in found.missed] == ["daphne async closed loop c=50 32B-text"]
    assert verdict("msgs_per_s>800", throughput("daphne", msgs_per_s=850.0)).passed


def test_a_step_keeps_its_own_rows_and_no_step_means_every_row() -> None:
    rows = (
        throughput("uvicorn", step="hello", p95_ms=4.0),
        throughput("uvicorn", step="bye", p95_ms=40.0),
        throughput("daphne", step="hello", p95_ms=6.0),
    )
    hello = verdict("hello:p95<20ms", *rows)
    assert hello.passed and hello.cells == 2 and hello.step == "hello"
    bye = verdict("bye:p95<20ms", *rows)
    assert not bye.passed and bye.cells == 1
    assert bye.missed == [
        {"cell": "uvicorn /ws/chat/c{conn}/ closed loop c=50 step bye", "value": 40.0}
    ]
    everything = verdict("p95<20ms", *rows, throughput("daphne"))
    assert not everything.passed and everything.cells == 4


def test_a_step_no_row_has_is_missed_and_says_which_steps_there_are() -> None:
    found = verdict("subscribe:p95<20ms", throughput("uvicorn", step="hello"))
    assert not found.passed and found.cells == 0
    assert "no row of this run is of step 'subscribe' (its steps are hello)" in found.reason


def test_a_threshold_no_row_measures_is_missed_never_passed() -> None:
    handshakes = HandshakeRow(server="uvicorn", flavour="async", handshakes_per_s=300.0)
    found = verdict("p99<1s", handshakes)
    assert not found.passed and found.cells == 0
    assert found.reason.startswith("not measured: no row of this run measures p99")
    assert not verdict("p99<1s").passed


def test_a_cell_that_did_not_measure_the_metric_misses() -> None:
    found = verdict("p95<1s", throughput("daphne", p95_ms=None), throughput("uvicorn"))
    assert not found.passed
    assert found.missed == [{"cell": "daphne async closed loop c=50 32B-text", "value": None}]
    assert "1 did not measure p95" in found.reason


def test_the_error_rate_is_errors_over_what_was_sent_and_unknown_without_it() -> None:
    assert verdict("errors<0.1%", throughput("uvicorn", errors=5, sent=10_000)).passed
    over = verdict("errors<0.1%", throughput("uvicorn", errors=20, sent=10_000))
    assert not over.passed and over.worst == 0.2
    unknown = verdict("errors<0.1%", throughput("uvicorn", errors=0, sent=None))
    assert not unknown.passed and unknown.missed[0]["value"] is None
    assert verdict("errors<1", throughput("uvicorn", errors=0, sent=None)).passed


def test_locust_and_soak_rows_are_cells_and_the_raw_echo_baseline_is_not() -> None:
    locust = LocustRow(
        scenario="echo",
        server="uvicorn",
        flavour="async",
        requests=1000,
        failures=2,
        msgs_per_s=500.0,
        p95_ms=3.0,
        generator_bound=False,
    )
    raw = LocustRow(
        scenario="echo",
        server="raw-echo",
        flavour="async",
        requests=1000,
        failures=900,
        msgs_per_s=5.0,
        generator_bound=False,
    )
    soak = SoakSummaryRow(server="daphne", flavour="async", errors=3, verdict="errors")
    rate = verdict("errors<0.5%", locust, raw)
    assert rate.passed and rate.cells == 1 and rate.worst == 0.2
    assert not verdict("msgs_per_s>100", raw).passed
    errors = verdict("errors<3", locust, soak)
    assert not errors.passed
    assert errors.missed == [{"cell": "daphne async soak", "value": 3.0}]


def test_junit_has_a_testcase_per_threshold_and_a_failure_per_miss() -> None:
    data = data_of(throughput("daphne"), throughput("uvicorn", p99_ms=30.0))
    rows = evaluate(data, [parse("p99<20ms"), parse("msgs_per_s>10")])
    root = ET.fromstring(to_junit(rows, "channels-harness bench x"))
    assert (root.get("tests"), root.get("failures")) == ("2", "1")
    (failure,) = root.findall(".//testcase/failure")
    assert "uvicorn async closed loop c=50 32B-text: 30 ms" in (failure.text or "")
    cases = [case.get("name") for case in root.iter("testcase")]
    assert cases == ["p99<20ms", "msgs_per_s>10"]


def test_the_report_shows_the_thresholds_table(tmp_path: Path) -> None:
    run = Run.create(tmp_path, kind="bench")
    run.extend([throughput("daphne"), throughput("uvicorn", p99_ms=30.0)])
    run.extend(evaluate(run.data, [parse("p99<20ms"), parse("msgs_per_s>10")]))
    text = markdown.render(run.data)
    table = text[text.index("## Thresholds") :]
    assert "| p99<20ms | 2 | 30 ms (uvicorn async closed loop c=50 32B-text) | MISSED" in table
    assert "| msgs_per_s>10 | 2 |" in table and "| pass |" in table
    assert "**Thresholds**: 1 of 2 missed" in text


# -- the commands --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bench", "load", "soak"])
def test_a_bad_threshold_exits_2_before_anything_starts(
    name: str, cli: Cli, tmp_path: Path
) -> None:
    done = cli(name, "--threshold", "p99<50", "--results", str(tmp_path))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "p99 needs a bound in ms or s" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
    assert not list(tmp_path.iterdir())


def test_junit_without_a_threshold_is_refused(cli: Cli, tmp_path: Path) -> None:
    done = cli("load", "--junit", str(tmp_path / "t.xml"), "--results", str(tmp_path))
    assert done.returncode == 2 and "give --threshold too" in done.stderr + done.stdout


@pytest.mark.slow
def test_a_load_whose_thresholds_every_server_meets_exits_0(
    cli: Cli, tmp_path: Path, run_data: Callable[[Path], dict[str, Any]]
) -> None:
    done = cli(
        "load",
        "--servers=uvicorn",
        "--flavours=async",
        "--users=3",
        "--duration=2",
        "--no-baseline",
        "--threshold=p99<60s",
        "--threshold=msgs_per_s>1",
        "--threshold=errors<50%",
        f"--results={tmp_path / 'results'}",
        f"--junit={tmp_path / 'thresholds.xml'}",
        timeout=180,
        columns=160,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Thresholds" in done.stdout and "MISSED" not in done.stdout
    rows = run_data(tmp_path / "results")["thresholds"]
    assert [(row["threshold"], row["passed"], row["cells"]) for row in rows] == [
        ("p99<60s", True, 1),
        ("msgs_per_s>1", True, 1),
        ("errors<50%", True, 1),
    ]
    root = ET.parse(tmp_path / "thresholds.xml").getroot()
    assert (root.get("tests"), root.get("failures")) == ("3", "0")


@pytest.mark.slow
def test_a_bench_with_a_threshold_no_server_can_meet_exits_1_with_a_junit_failure(
    cli: Cli, tmp_path: Path, run_data: Callable[[Path], dict[str, Any]]
) -> None:
    done = cli(
        "bench",
        "--quick",
        "--servers=uvicorn",
        "--app=refsite.asgi:application",
        f"--app-dir={TARGET_APP_DIR}",
        "--settings=refsite.settings",
        "--path=/ws/echo/async/",
        "--threshold=msgs_per_s>1000000000",
        "--threshold=p99<60s",
        f"--results={tmp_path / 'results'}",
        f"--junit={tmp_path / 'thresholds.xml'}",
        timeout=300,
        columns=200,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "threshold missed msgs_per_s>1000000000: 1 of 1 cell(s) missed" in done.stdout
    data = run_data(tmp_path / "results")
    assert data["failures"] == [] and data["status"] == "complete"
    missed, met = data["thresholds"]
    assert not missed["passed"] and met["passed"]
    assert missed["missed"][0]["cell"].startswith("uvicorn /ws/echo/async/ closed loop c=50")
    assert met["cells"] == 2  # the closed loop and the open loop measure p99
    (failure,) = ET.parse(tmp_path / "thresholds.xml").getroot().iter("failure")
    assert "uvicorn /ws/echo/async/ closed loop" in (failure.text or "")
    # The same run's report titles your app's tables for what was measured, with its path.
    text = markdown.render(data)
    assert "closed loop echo" not in text and "## Throughput of your app (closed loop)" in text
    assert "| server | path | scenario | step |" in text
    assert "| uvicorn | /ws/echo/async/ | your messages |" in text
    assert "## Latency of your app against load (open loop)" in text
    assert "## Handshakes with your app" in text


@pytest.mark.slow
def test_a_soak_checks_its_thresholds_against_its_summary(
    tmp_path: Path,
    command: Callable[[list[str]], int],
    run_data: Callable[[Path], dict[str, Any]],
) -> None:
    code = command(
        [
            "soak",
            "--minutes=0.1",
            "--servers=uvicorn",
            "--flavours=async",
            "--sample=2",
            "--threshold=errors<1",
            "--threshold=p99<0.001ms",  # below the histogram's 1 µs floor: never met
            f"--results={tmp_path}",
        ]
    )
    data = run_data(tmp_path)
    (summary,) = data["soak_summary"]
    errors, p99 = data["thresholds"]
    assert errors["passed"] is (summary["errors"] == 0) and errors["cells"] == 1
    assert not p99["passed"] and p99["missed"][0]["cell"] == "uvicorn async soak"
    assert code == 1
