"""The soak: a short steady mixed load against a real server, sampled over
time, with a verdict that flags growth by the stated rule."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from channels_harness.experiments.soak import verdict
from channels_harness.report.rows import SoakSampleRow


def samples(rss: list[int]) -> list[SoakSampleRow]:
    return [SoakSampleRow(server="s", t_s=float(i), rss_bytes=value) for i, value in enumerate(rss)]


CLEAN = {"fds": 20, "live": 0, "errors": 0}


def test_a_flat_soak_is_stable() -> None:
    assert verdict(samples([100, 130, 131, 130, 131, 130]), 20, CLEAN) == "stable"


def test_growth_in_the_second_half_is_flagged_not_warm_up() -> None:
    assert verdict(samples([100, 100, 100, 100, 115, 125]), 20, CLEAN) == "rss growing"
    assert verdict(samples([50, 90, 100, 100, 101, 100]), 20, CLEAN) == "stable"


def test_fds_consumers_and_errors_are_flagged_together() -> None:
    after = {"fds": 40, "live": 3, "errors": 2}
    assert verdict(samples([100] * 4), 20, after) == "fds not returned; consumers leaked; errors"
    assert verdict(samples([100] * 4), 20, {**CLEAN, "fds": 25}) == "stable"


def test_soak_command_samples_a_live_server_and_judges_it(
    tmp_path: Path, command: Callable[[list[str]], int], run_data: Callable[[Path], dict[str, Any]]
) -> None:
    code = command(
        [
            "soak",
            "--minutes=0.2",
            "--servers=uvicorn",
            "--flavours=async",
            "--sample=2",
            f"--results={tmp_path}",
        ]
    )
    data = run_data(tmp_path)
    assert data["kind"] == "soak" and data["status"] == "complete"
    assert data["failures"] == []
    rows = data["soak"]
    assert len(rows) >= 5
    assert [r["t_s"] for r in rows] == sorted(r["t_s"] for r in rows)
    assert all(r["live_consumers"] >= 20 for r in rows)
    assert all(r["msgs_per_s"] > 0 for r in rows[1:])
    assert all(r["rss_bytes"] > 0 and r["open_fds"] > 0 for r in rows)
    (summary,) = data["soak_summary"]
    assert summary["minutes"] == 0.2
    assert summary["handshakes"] > 0 and summary["deliveries"] > 0
    assert summary["lost_deliveries"] == 0
    assert summary["live_consumers_end"] == 0
    assert summary["verdict"] == "stable", summary
    assert code == 0
