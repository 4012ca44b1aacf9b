"""The report renderers on a hand-made data.json: the verdict says what the rows
say, every plot renders, and the results are written atomically.

These rows are inputs to the renderer, not measurements; the measured runs are
checked end to end in test_report_run.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest

from channels_harness.report import compare, index, markdown, plots, summary
from channels_harness.report.model import Run, write_atomic
from channels_harness.report.publish import publish
from channels_harness.report.rows import ROW_TYPES
from channels_harness.report.schema import validate


def cell(server: str, flavour: str, runs: list[float], **extra: object) -> dict[str, object]:
    ordered = sorted(runs)
    return {
        "scenario": "echo",
        "server": server,
        "flavour": flavour,
        "concurrency": 50,
        "payload": "32B-text",
        "payload_bytes": 32,
        "mode": "closed",
        "generator": "test",
        "generator_processes": 1,
        "runs": len(runs),
        "msgs_per_s": ordered[len(runs) // 2],
        "msgs_per_s_runs": runs,
        "spread_pct": (ordered[-1] - ordered[0]) / ordered[len(runs) // 2] * 100,
        "p50_ms": 1.0,
        "p90_ms": 2.0,
        "p99_ms": 3.0,
        "p999_ms": 4.0,
        "max_ms": 5.0,
        "errors": 0,
        "generator_cpu": 0.5,
        "generator_bound": False,
        **extra,
    }


def put(run: Run, section: str, rows: dict[str, object] | list[dict[str, object]]) -> None:
    """Add dict rows to ``section`` as that section's typed rows."""
    kind = next(k for k in ROW_TYPES if section == k.SECTION)
    run.extend([kind.from_json(row) for row in (rows if isinstance(rows, list) else [rows])])


@pytest.fixture
def run(tmp_path: Path) -> Run:
    run = Run.create(
        tmp_path,
        kind="test",
        options={"pinning": {"pinned": True, "server_cpus": [0], "generator_cpus": [1]}},
    )
    put(
        run,
        "throughput",
        [
            cell("daphne", "sync", [2000, 2100, 2200]),
            cell("daphne", "async", [4000, 4200, 4400]),
            cell("uvicorn", "sync", [3000, 3000, 3000]),
            cell("uvicorn", "async", [9000, 9000, 9000]),
            cell("uvicorn", "generic-async", [99000, 99000, 99000], generator_bound=True),
        ],
    )
    put(
        run,
        "conformance",
        [
            {
                "case": "close_default_1000",
                "clause": "ASGI 2.3",
                "title": "t",
                "area": "close",
                "server": "daphne",
                "flavour": "sync",
                "grade": "PASS",
                "expected": "1000",
                "observed": "1000",
                "known_deviation": False,
            },
            {
                "case": "empty_text",
                "clause": "RFC 6455 5.6",
                "title": "t",
                "area": "messages",
                "server": "daphne",
                "flavour": "async",
                "grade": "FAIL",
                "expected": "echo",
                "observed": "dropped",
                "known_deviation": True,
            },
            {
                "case": "max_size",
                "clause": "RFC 6455 10.4",
                "title": "t",
                "area": "limits",
                "server": "uvicorn",
                "flavour": "-",
                "grade": "INFO",
                "expected": "-",
                "observed": "16 MiB",
                "known_deviation": False,
            },
        ],
    )
    put(
        run,
        "handshake",
        {
            "server": "uvicorn",
            "flavour": "async",
            "handshakes_per_s": 900.0,
            "p50_ms": 1.0,
            "p99_ms": 2.0,
            "runs": 3,
            "spread_pct": 4.0,
        },
    )
    put(
        run,
        "memory",
        {
            "server": "uvicorn",
            "flavour": "async",
            "connections": 1000,
            "rss_idle_bytes": 1,
            "rss_loaded_bytes": 2,
            "bytes_per_connection": 30e3,
        },
    )
    put(
        run,
        "breakdown",
        {"server": "uvicorn", "layer": "raw echo", "us_per_msg": 10.0, "msgs_per_s": 1e5},
    )
    put(
        run,
        "latency",
        {
            "server": "uvicorn",
            "flavour": "async",
            "target_rate": 1000,
            "achieved_rate": 999.0,
            "p50_ms": 1.0,
            "p90_ms": 1.0,
            "p99_ms": 2.0,
            "p999_ms": 3.0,
            "max_ms": 4.0,
            "generator_bound": False,
        },
    )
    put(
        run,
        "headroom",
        {
            "generator": "loadgen/picows",
            "baseline_msgs_per_s": 60000.0,
            "best_channels_msgs_per_s": 9000.0,
            "best_cell": "uvicorn async",
            "ratio": 60000 / 9000,
            "generator_cpu": 0.95,
        },
    )
    return run


def test_the_verdict_uses_medians_and_the_run_range(run: Run) -> None:
    ratios = {r.label: r for r in summary.sync_vs_async(run.data)}
    daphne = ratios["daphne: async / sync"]
    assert daphne.value == pytest.approx(4200 / 2100)
    assert daphne.low == pytest.approx(4000 / 2200)
    assert daphne.high == pytest.approx(4400 / 2000)
    assert ratios["uvicorn: async / sync"].text() == "3.00x"


def test_generator_bound_cells_never_make_the_fastest_list(run: Run) -> None:
    fastest = summary.fastest_cells(run.data)
    assert (fastest[0].server, fastest[0].flavour) == ("uvicorn", "async")


def test_report_md_leads_with_the_verdict_and_lists_deviations(run: Run) -> None:
    text = markdown.render(run.data, plots=plots.render_all(run.data).keys())
    assert text.index("## Summary") < text.index("## Conformance") < text.index("## Setups")
    assert "daphne: async / sync: **2.00x (1.82-2.20)**" in text
    assert "| empty_text | RFC 6455 5.6 | FAIL | dropped | async |" in text
    assert "6.67x the best Channels cell" in text and "meets the 5x" in text


def test_publish_writes_every_plot_a_valid_report_and_the_index(run: Run) -> None:
    run.finish()
    validate(run.data)
    written = publish(run)
    for name in (
        "throughput",
        "latency_percentiles",
        "latency_vs_load",
        "handshake",
        "memory",
        "breakdown",
        "conformance",
    ):
        svg = written[f"plot:{name}"].read_bytes()
        assert b"<svg" in svg and len(svg) > 2000, name
    page = written["report.html"].read_text()
    assert page.count("<svg") >= 7 and "plots/" not in page  # self-contained
    readme = (run.path.parent / "README.md").read_text()
    assert f"[{run.path.name}]({run.path.name}/report.md)" in readme
    assert "uvicorn async 9,000/s" in readme
    assert not list(run.path.rglob(".tmp-*"))


def test_an_incomplete_run_says_so_everywhere(run: Run) -> None:
    run.finish("incomplete")
    publish(run)
    assert "**INCOMPLETE**" in (run.path / "report.md").read_text()
    assert "| incomplete |" in (run.path.parent / "README.md").read_text()


def test_the_index_is_newest_first(tmp_path: Path) -> None:
    older = Run.create(tmp_path, run_id="20250101T000000Z-a")
    newer = Run.create(tmp_path, run_id="20260101T000000Z-b")
    text = index.render(tmp_path)
    assert text.index(newer.path.name) < text.index(older.path.name)


def test_compare_flags_only_changes_outside_the_spread(run: Run, tmp_path: Path) -> None:
    other = json.loads(json.dumps(run.data))
    other["run_id"] = "20200101T000000Z-other"
    for row in other["throughput"]:
        if row["server"] == "uvicorn" and row["flavour"] == "async":
            row["msgs_per_s"], row["msgs_per_s_runs"] = 6000, [5900, 6000, 6100]
    found = {e["figure"]: e for e in compare.changes(run.data, other)}
    moved = found["uvicorn async 50 32B-text msgs/s"]
    assert moved["change_pct"] == pytest.approx(50.0) and moved["outside_spread"]
    assert not found["daphne sync 50 32B-text msgs/s"]["outside_spread"]


def test_a_broken_data_json_fails_validation(run: Run) -> None:
    broken = dict(run.data, status="half-done")
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)


def test_an_interrupted_write_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "data.json"
    write_atomic(target, "old")

    class Boom(Exception):
        pass

    real_replace = os.replace

    def failing_replace(src: str, dst: str) -> None:
        raise Boom()

    os.replace = failing_replace  # type: ignore[assignment]
    try:
        with pytest.raises(Boom):
            write_atomic(target, "new")
    finally:
        os.replace = real_replace
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.json"]
