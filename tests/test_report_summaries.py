"""Every kind of run opens its report with what it found: the committed fanout,
soak, scaling and limits runs, and a load run, each say it under Summary
instead of "No measurements finished in this run."."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from channels_harness.report import markdown
from channels_harness.report.rows import LocustRow
from channels_harness.runtime.paths import RESULTS_DIR

NOTHING = "No measurements finished in this run."

# A committed run of each kind, and what its summary must say.
COMMITTED = [
    (
        "20261125T111307Z-vm",
        "**Fan-out**",
        "- memory: best 10,338 deliveries/s (uvicorn async, 10 members); p99 with 1000 members "
        "from 1,315 ms (uvicorn async) to 5,730 ms (daphne async); no delivery lost.",
    ),
    (
        "20261125T111804Z-vm",
        "**Soak**",
        "- daphne async: **stable** over 10 min (RSS +2.8%, open descriptors 13 to 13, 0 errors).",
    ),
    (
        "20261125T112806Z-vm",
        "**Scaling**",
        "- unpinned: daphne async, 4 processes over 1: 1.74x (5,424 to 9,422 msgs/s).",
    ),
    (
        "20261130T032016Z-vm",
        "**Capacity**",
        "- granian, redis layer: **19,962** idle connections of 50,000 asked, 169 KB each; "
        "stopped by fd-limit (machine); at the limit: stops accepting, recovered.",
    ),
    (
        "20261125T113201Z-vm",
        "**Capacity**",
        "- daphne: **10,000** idle connections of 10,000 asked, 35 KB each; reached the "
        "maximum asked (10000).",
    ),
]


@pytest.mark.parametrize(("run", "title", "line"), COMMITTED, ids=[c[0] for c in COMMITTED])
def test_a_complete_run_of_each_kind_says_what_it_found(run: str, title: str, line: str) -> None:
    data = json.loads((RESULTS_DIR / run / "data.json").read_text(encoding="utf-8"))
    summary = markdown.verdict(data)
    assert NOTHING not in summary
    assert title in summary and line in summary, summary


def locust(server: str, flavour: str, rate: float, failures: int = 0) -> LocustRow:
    return LocustRow(
        scenario="echo",
        server=server,
        flavour=flavour,
        requests=1000,
        failures=failures,
        msgs_per_s=rate,
        p99_ms=4.0,
        generator_bound=False,
    )


def test_a_load_run_names_its_fastest_and_slowest_cells_and_sync_vs_async() -> None:
    rows = [
        locust("uvicorn", "sync", 1000.0),
        locust("uvicorn", "async", 2500.0, failures=3),
        locust("raw-echo", "async", 9000.0),
    ]
    data = {"kind": "load", "locust": [row.to_json() for row in rows]}
    summary = markdown.verdict(data)
    assert NOTHING not in summary
    assert (
        "- echo: fastest uvicorn async 2,500/s, p99 4 ms; slowest uvicorn sync 1,000/s, "
        "p99 4 ms; async / sync uvicorn 2.50x; the raw echo baseline 9,000/s; "
        "3 failed requests." in summary
    )


def test_a_run_with_nothing_measured_still_says_so() -> None:
    assert NOTHING in markdown.verdict({"kind": "load"})


def test_the_committed_reports_carry_their_summaries() -> None:
    for run, title, _ in COMMITTED:
        text = (Path(RESULTS_DIR) / run / "report.md").read_text(encoding="utf-8")
        assert title in text and NOTHING not in text, run
