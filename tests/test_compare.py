"""`channels-harness compare` as a CI gate, and the exports (CSV, JUnit), on the
published full run and copies of it changed the way a regression would change it."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from channels_harness.cli import main
from channels_harness.report.export import conformance_junit, tables
from channels_harness.report.sections import REPORT_SECTIONS, THROUGHPUT
from channels_harness.runtime.paths import RESULTS_DIR

FULL_RUN = RESULTS_DIR / "20261125T121306Z-vm"


def copy_run(tmp_path: Path, name: str, change: Any = None) -> Path:
    """A copy of the published full run's data.json under ``tmp_path/name``,
    passed through ``change(data)`` first."""
    data = json.loads((FULL_RUN / "data.json").read_text(encoding="utf-8"))
    if change is not None:
        change(data)
    folder = tmp_path / name
    folder.mkdir()
    (folder / "data.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


def slower(factor: float) -> Any:
    def change(data: dict[str, Any]) -> None:
        for row in data["throughput"]:
            row["msgs_per_s"] *= factor
            row["msgs_per_s_runs"] = [v * factor for v in row["msgs_per_s_runs"]]

    return change


def compare(*args: str) -> int:
    return main(["compare", *args])


def test_an_unchanged_run_passes_every_threshold(tmp_path: Path) -> None:
    same = copy_run(tmp_path, "same")
    junit = tmp_path / "junit.xml"
    assert (
        compare(
            str(FULL_RUN),
            str(same),
            "--max-drop",
            "1",
            "--max-p99-rise",
            "1",
            "--junit",
            str(junit),
        )
        == 0
    )
    root = ET.parse(junit).getroot()
    assert int(root.get("tests", "0")) > 1000 and root.get("failures") == "0"


def test_a_run_whose_throughput_fell_30_percent_fails_with_junit_failures(tmp_path: Path) -> None:
    new = copy_run(tmp_path, "slower", slower(0.7))
    junit, report = tmp_path / "junit.xml", tmp_path / "compare.json"
    code = compare(
        str(FULL_RUN), str(new), "--max-drop", "10", "--junit", str(junit), "--json", str(report)
    )
    assert code == 1
    failures = ET.parse(junit).getroot().findall(".//testcase/failure")
    throughput = json.loads(report.read_text())
    fell = [
        c for c in throughput["changes"] if c["kind"] == "throughput" and c["metric"] == "msgs/s"
    ]
    assert fell and all(c["change_pct"] == pytest.approx(-30.0) for c in fell)
    assert len(failures) == sum(1 for c in fell if c["regression"]) > 0
    assert all("fell 30.0%" in f.get("message", "") for f in failures)


def test_a_drop_inside_the_runs_spread_is_not_a_regression(tmp_path: Path) -> None:
    def noisy(data: dict[str, Any]) -> None:
        # The median falls 20%, but one run still reaches the old run's best.
        for row in data["throughput"]:
            best = max(row["msgs_per_s_runs"])
            row["msgs_per_s"] *= 0.8
            row["msgs_per_s_runs"] = [row["msgs_per_s"] * 0.9, row["msgs_per_s"], best]

    new = copy_run(tmp_path, "noisy", noisy)
    assert compare(str(FULL_RUN), str(new), "--max-drop", "10") == 0
    assert (
        compare(str(FULL_RUN), str(copy_run(tmp_path, "slow", slower(0.8))), "--max-drop", "10")
        == 1
    )


def test_a_drop_below_the_threshold_passes(tmp_path: Path) -> None:
    new = copy_run(tmp_path, "slower", slower(0.7))
    assert compare(str(FULL_RUN), str(new), "--max-drop", "50") == 0


def worse_grade(data: dict[str, Any]) -> None:
    row = next(r for r in data["conformance"] if r["grade"] == "PASS")
    row["grade"], row["observed"] = "FAIL", "the server now closes with 1011"


def test_a_worse_conformance_grade_fails_unless_allowed(tmp_path: Path) -> None:
    new = copy_run(tmp_path, "worse", worse_grade)
    junit = tmp_path / "junit.xml"
    assert compare(str(FULL_RUN), str(new), "--junit", str(junit)) == 1
    (failure,) = ET.parse(junit).getroot().findall(".//testcase/failure")
    assert "PASS -> FAIL" in failure.get("message", "")
    assert compare(str(FULL_RUN), str(new), "--allow-conformance-change") == 0


def test_cells_in_one_run_only_are_listed_not_failed(tmp_path: Path) -> None:
    def drop_daphne(data: dict[str, Any]) -> None:
        data["throughput"] = [r for r in data["throughput"] if r["server"] != "daphne"]

    new = copy_run(tmp_path, "fewer", drop_daphne)
    out = tmp_path / "compare.md"
    assert compare(str(FULL_RUN), str(new), "--max-drop", "1", "--markdown", str(out)) == 0
    text = out.read_text()
    assert (
        "## Only in the old run" in text and "throughput: daphne async c=50 32B-text msgs/s" in text
    )


def test_unusable_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert compare(str(FULL_RUN), str(empty)) == 2
    assert "is not a run folder" in capsys.readouterr().err

    def future(data: dict[str, Any]) -> None:
        data["schema_version"] = 99

    assert compare(str(FULL_RUN), str(copy_run(tmp_path, "future", future))) == 2
    assert "schema version 99" in capsys.readouterr().err

    def nothing(data: dict[str, Any]) -> None:
        for section in ("conformance", "throughput", "latency", "handshake", "memory", "locust"):
            data[section] = []

    assert compare(str(FULL_RUN), str(copy_run(tmp_path, "nothing", nothing))) == 2
    assert "no cell in common" in capsys.readouterr().err


def test_csv_exports_have_the_report_columns(tmp_path: Path) -> None:
    data = json.loads((FULL_RUN / "data.json").read_text(encoding="utf-8"))
    files = dict(tables(data))
    names = {spec.name for spec in REPORT_SECTIONS if spec.rows(data)}
    assert {f"{name}.csv" for name in names} <= set(files)
    header, *rows = list(csv.reader(files["throughput.csv"].splitlines()))
    assert header == THROUGHPUT.headers
    assert len(rows) == len(data["throughput"])
    assert main(["report", str(copy_run(tmp_path, "run")), "--csv", str(tmp_path / "csv")]) == 0
    assert (tmp_path / "csv" / "conformance.csv").exists()


def test_conformance_junit_fails_only_unknown_deviations() -> None:
    data = json.loads((FULL_RUN / "data.json").read_text(encoding="utf-8"))
    root = ET.fromstring(conformance_junit(data))
    assert int(root.findall("testsuite")[0].get("tests", "0")) > 0
    assert root.findall(".//failure") == []  # every deviation of the published run is known
    worse_grade(data)
    assert len(ET.fromstring(conformance_junit(data)).findall(".//failure")) == 1
