"""`channels-harness compare` as a CI gate, and the exports (CSV, JUnit), on the
published full run (with the intervals every current run has) and copies of it
changed the way a regression would change it."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from channels_harness.cli import main
from channels_harness.report.compare import Figure, Thresholds, undecidable
from channels_harness.report.compare import compare as compare_runs
from channels_harness.report.export import conformance_junit, tables
from channels_harness.report.sections import REPORT_SECTIONS, THROUGHPUT_CI
from channels_harness.runtime.paths import RESULTS_DIR

FULL_RUN = RESULTS_DIR / "20261130T013000Z-vm"


def compare(*args: str) -> int:
    return main(["compare", *args])


def _data(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "data.json").read_text(encoding="utf-8"))
    return data


def test_the_published_run_has_the_intervals_current_runs_have() -> None:
    rows = _data(FULL_RUN)["throughput"]
    assert rows and all(r["series"] and r["msgs_per_s_runs"] for r in rows)
    assert sum(1 for r in rows if r["ci95"]) > 30


def test_a_copy_scales_every_figure_of_a_cell(run_copy: Callable[..., Path]) -> None:
    before, after = _data(FULL_RUN), _data(run_copy("half", throughput=0.5, latency=2.0))
    old, new = before["throughput"][0], after["throughput"][0]
    assert new["msgs_per_s"] == old["msgs_per_s"] * 0.5
    assert new["msgs_per_s_runs"] == [v * 0.5 for v in old["msgs_per_s_runs"]]
    assert new["ci95"] == [v * 0.5 for v in old["ci95"]] or old["ci95"] is None
    assert new["p99_ms"] == old["p99_ms"] * 2 and new["p50_ms"] == old["p50_ms"] * 2
    assert new["p99_ms_runs"] == [v * 2 for v in old["p99_ms_runs"]]
    handshake = after["handshake"][0]
    assert handshake["handshakes_per_s_runs"] == [
        v * 0.5 for v in before["handshake"][0]["handshakes_per_s_runs"]
    ]
    assert after["latency"][0]["p99_ms"] == before["latency"][0]["p99_ms"] * 2


def test_an_unchanged_run_passes_every_threshold_and_lists_what_it_cannot_decide(
    tmp_path: Path, run_copy: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    same = run_copy("same")
    junit, report = tmp_path / "junit.xml", tmp_path / "compare.json"
    code = compare(
        str(FULL_RUN),
        str(same),
        "--max-drop",
        "10",
        "--max-p99-rise",
        "50",
        "--junit",
        str(junit),
        "--json",
        str(report),
    )
    assert code == 0
    root = ET.parse(junit).getroot()
    assert int(root.get("tests", "0")) > 1000 and root.get("failures") == "0"
    found = json.loads(report.read_text())
    assert found["failed"] is False and found["regressions"] == 0 and not found["problems"]
    # open-loop latency is one run a cell: no spread to judge a rise against
    undecided = {u["name"] for u in found["undecided"]}
    assert "latency: uvicorn sync at 50% of peak p99 ms" in undecided
    assert int(root.get("skipped", "0")) == len(undecided) > 0
    assert "undecided" in capsys.readouterr().out


def test_a_run_whose_throughput_fell_30_percent_fails_with_junit_failures(
    tmp_path: Path, run_copy: Callable[..., Path]
) -> None:
    new = run_copy("slower", throughput=0.7)
    junit, report = tmp_path / "junit.xml", tmp_path / "compare.json"
    code = compare(
        str(FULL_RUN), str(new), "--max-drop", "10", "--junit", str(junit), "--json", str(report)
    )
    assert code == 1
    failures = ET.parse(junit).getroot().findall(".//testcase/failure")
    throughput = json.loads(report.read_text())
    rates = ("msgs/s", "handshakes/s")
    fell = [c for c in throughput["changes"] if c["metric"] in rates]
    assert {c["kind"] for c in fell} == {"throughput", "handshake", "locust"}
    assert all(c["change_pct"] == pytest.approx(-30.0) for c in fell)
    assert len(failures) == sum(1 for c in fell if c["regression"]) > 0
    assert all("fell 30.0%" in f.get("message", "") for f in failures)
    # a cell whose intervals overlap even after a 30% drop is undecided, never passed
    assert all(c["regression"] or c["undecided"] for c in fell)


def test_a_drop_inside_the_runs_spread_is_not_a_regression(
    tmp_path: Path, run_copy: Callable[..., Path]
) -> None:
    def noisy(data: dict[str, Any]) -> None:
        # The median falls 20%, but one run still reaches the old run's best.
        for row in data["throughput"]:
            best = max(row["msgs_per_s_runs"])
            row["msgs_per_s"] *= 0.8
            row["msgs_per_s_runs"] = [row["msgs_per_s"] * 0.9, row["msgs_per_s"], best]

    new = run_copy("noisy", noisy)
    assert compare(str(FULL_RUN), str(new), "--max-drop", "10") == 0
    assert compare(str(FULL_RUN), str(run_copy("slow", throughput=0.8)), "--max-drop", "10") == 1


def test_a_drop_below_the_threshold_passes(tmp_path: Path, run_copy: Callable[..., Path]) -> None:
    new = run_copy("slower", throughput=0.7)
    assert compare(str(FULL_RUN), str(new), "--max-drop", "50") == 0


def worse_grade(data: dict[str, Any]) -> None:
    row = next(r for r in data["conformance"] if r["grade"] == "PASS")
    row["grade"], row["observed"] = "FAIL", "the server now closes with 1011"


def test_a_worse_conformance_grade_fails_unless_allowed(
    tmp_path: Path, run_copy: Callable[..., Path]
) -> None:
    new = run_copy("worse", worse_grade)
    junit = tmp_path / "junit.xml"
    assert compare(str(FULL_RUN), str(new), "--junit", str(junit)) == 1
    (failure,) = ET.parse(junit).getroot().findall(".//testcase/failure")
    assert "PASS -> FAIL" in failure.get("message", "")
    assert compare(str(FULL_RUN), str(new), "--allow-conformance-change") == 0


def test_a_cell_that_disappeared_fails_unless_missing_cells_are_allowed(
    tmp_path: Path, run_copy: Callable[..., Path]
) -> None:
    def drop_daphne(data: dict[str, Any]) -> None:
        data["throughput"] = [r for r in data["throughput"] if r["server"] != "daphne"]

    new = run_copy("fewer", drop_daphne)
    out, junit = tmp_path / "compare.md", tmp_path / "compare.xml"
    code = compare(str(FULL_RUN), str(new), "--markdown", str(out), "--junit", str(junit))
    assert code == 1
    text = out.read_text()
    assert "## Failures of the new run" in text
    assert "- missing: throughput: daphne async c=50 32B-text msgs/s" in text
    run_suite = ET.parse(junit).getroot().find("testsuite[@name='run']")
    assert run_suite is not None and int(run_suite.get("failures", "0")) > 0
    assert compare(str(FULL_RUN), str(new), "--allow-missing") == 0
    assert compare(str(FULL_RUN), str(run_copy("all"))) == 0


def test_a_new_run_with_failed_cells_or_unfinished_fails(
    tmp_path: Path, run_copy: Callable[..., Path]
) -> None:
    def failed(data: dict[str, Any]) -> None:
        data["failures"] = [
            {
                "section": "latency",
                "cell": {"server": "uvicorn", "flavour": "async", "share_of_peak": 0.5},
                "message": "the server exited during the run (code -9)",
            }
        ]

    def unfinished(data: dict[str, Any]) -> None:
        data["status"] = "incomplete"

    report = tmp_path / "compare.json"
    assert compare(str(FULL_RUN), str(run_copy("failed", failed)), "--json", str(report)) == 1
    [problem] = json.loads(report.read_text())["problems"]
    assert problem.startswith("failed in the new run: latency server=uvicorn")
    assert compare(str(FULL_RUN), str(run_copy("unfinished", unfinished))) == 1
    found = compare_runs(_data(FULL_RUN), _data(run_copy("unfinished2", unfinished)))
    assert found.problems == ["the new run is incomplete: some of its cells were never measured"]


def test_a_single_open_loop_run_cannot_fail_a_p99_rise_it_is_undecided(
    tmp_path: Path, run_copy: Callable[..., Path]
) -> None:
    def later(data: dict[str, Any]) -> None:
        for row in data["latency"]:
            row["p99_ms"] *= 1.2

    new = run_copy("later", later)
    limits = Thresholds(max_p99_rise_pct=5)
    found = compare_runs(_data(FULL_RUN), _data(new), limits)
    latency = [c for c in found.changes if c.kind == "latency"]
    assert latency and not any(c.regression for c in latency)
    assert all("one run" in (c.undecided or "") for c in latency)
    assert compare(str(FULL_RUN), str(new), "--max-p99-rise", "5") == 0
    assert compare(str(FULL_RUN), str(new), "--max-p99-rise", "5", "--fail-undecided") == 1


def test_undecided_means_a_change_of_the_threshold_could_hide_in_the_intervals() -> None:
    # each interval reaches 5% from its median: a drop of 10% moves them apart
    # ((1 - 0.10) * 1.05 < 0.95), a drop of 8% would not ((1 - 0.08) * 1.05 > 0.95)
    old, new = Figure(100.0, 95.0, 105.0, "95% CI"), Figure(100.0, 95.0, 105.0, "95% CI")
    assert undecidable(old, new, 10.0, drop=True) is None
    assert "a 8% drop could not be told from noise" in (undecidable(old, new, 8.0, True) or "")
    # a rise: (1 + 0.12) * 0.95 > 1.05 is seen, (1 + 0.10) * 0.95 < 1.05 is not
    assert undecidable(old, new, 12.0, drop=False) is None
    assert undecidable(old, new, 10.0, drop=False) is not None
    assert undecidable(Figure(100.0, 100.0, 100.0), new, 50.0, drop=True) is not None


def test_an_undecided_cell_is_listed_apart_in_every_output(
    tmp_path: Path, run_copy: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # a cell whose runs scatter by 20%: with a 5% threshold it cannot be decided
    def scattered(data: dict[str, Any]) -> None:
        row = next(
            r for r in data["throughput"] if (r["server"], r["flavour"]) == ("uvicorn", "async")
        )
        row["msgs_per_s_runs"] = [row["msgs_per_s"] * f for f in (0.8, 0.9, 1.0, 1.0, 1.1, 1.2)]

    old, new = run_copy("old", scattered), run_copy("new", scattered)
    md, junit, report = tmp_path / "c.md", tmp_path / "c.xml", tmp_path / "c.json"
    args = ["--max-drop", "5", "--markdown", str(md), "--junit", str(junit), "--json", str(report)]
    assert compare(str(old), str(new), *args) == 0
    name = "throughput: uvicorn async c=50 32B-text msgs/s"
    assert "undecided[/]" not in capsys.readouterr().out  # markup rendered, not printed
    text = md.read_text()
    assert "## Undecided" in text and f"- {name}: the old interval reaches 20.0% below" in text
    assert name in {u["name"] for u in json.loads(report.read_text())["undecided"]}
    skipped = [
        case
        for case in ET.parse(junit).getroot().iter("testcase")
        if case.find("skipped") is not None
    ]
    assert "uvicorn async c=50 32B-text msgs/s" in {case.get("name") for case in skipped}
    assert compare(str(old), str(new), *args, "--fail-undecided") == 1


def test_unusable_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], run_copy: Callable[..., Path]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert compare(str(FULL_RUN), str(empty)) == 2
    assert "is not a run folder" in capsys.readouterr().err

    def future(data: dict[str, Any]) -> None:
        data["schema_version"] = 99

    assert compare(str(FULL_RUN), str(run_copy("future", future))) == 2
    assert "schema version 99" in capsys.readouterr().err

    def nothing(data: dict[str, Any]) -> None:
        for section in ("conformance", "throughput", "latency", "handshake", "memory", "locust"):
            data[section] = []

    assert compare(str(FULL_RUN), str(run_copy("nothing", nothing))) == 2
    assert "no cell in common" in capsys.readouterr().err


def test_csv_exports_have_the_report_columns(tmp_path: Path, run_copy: Callable[..., Path]) -> None:
    data = json.loads((FULL_RUN / "data.json").read_text(encoding="utf-8"))
    files = dict(tables(data))
    names = {spec.name for spec in REPORT_SECTIONS if spec.rows(data)}
    assert {f"{name}.csv" for name in names} <= set(files)
    header, *rows = list(csv.reader(files["throughput.csv"].splitlines()))
    assert header == THROUGHPUT_CI.headers
    assert len(rows) == len(data["throughput"])
    assert main(["report", str(run_copy("run")), "--csv", str(tmp_path / "csv")]) == 0
    assert (tmp_path / "csv" / "conformance.csv").exists()


def test_conformance_junit_fails_only_unknown_deviations() -> None:
    data = json.loads((FULL_RUN / "data.json").read_text(encoding="utf-8"))
    root = ET.fromstring(conformance_junit(data))
    assert int(root.findall("testsuite")[0].get("tests", "0")) > 0
    assert root.findall(".//failure") == []  # every deviation of the published run is known
    worse_grade(data)
    assert len(ET.fromstring(conformance_junit(data)).findall(".//failure")) == 1
