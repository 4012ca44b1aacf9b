"""The main job end to end: two real quick runs of `channels-harness all` into one
results folder (its bench stage on uvicorn's sync and async flavours, then its
load stage), the report opened in real headless Chromium, re-rendered from
data.json alone, compared with a later run of the same figures, and a run
interrupted with Ctrl-C during its bench stage. In the slow tier (2 minutes).

The two real runs are made once per module and every test reads them (under
xdist the root conftest.py keeps a module of tests/ on one worker, so they are
made once per session)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import _spawn
import psutil
import pytest
from browser import check_page, chromium_path

from channels_harness.report.lean import BUDGET_BYTES, folder_size
from channels_harness.report.schema import validate
from channels_harness.runtime.timeouts import scaled
from channels_harness.testing.suites import require_or_skip

HARNESS = [sys.executable, "-m", "channels_harness.cli"]
SMALL_RUN = [
    "all",
    "--quick",
    "--stages",
    "bench",
    "--servers",
    "uvicorn",
    "--flavours",
    "sync,async",
]
# The load stage alone: locust cells, their tarball, the size budget.
LOAD_RUN = [
    "all",
    "--quick",
    "--stages",
    "load",
    "--servers",
    "uvicorn",
    "--flavours",
    "async",
]
ENV = {**os.environ, "COLUMNS": "200"}

pytestmark = pytest.mark.slow

PLOT_SIZES = (
    "JSON.stringify([...document.querySelectorAll('figure.plot svg')]"
    ".map(e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; }))"
)


def harness(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return _spawn.run([*HARNESS, *args], env=ENV, timeout=scaled(timeout))


def only_run(results: Path) -> Path:
    runs = [p for p in results.iterdir() if (p / "data.json").exists()]
    assert len(runs) == 1, runs
    return runs[0]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two real quick runs in one results folder: the bench stage (older), then the
    load stage (newer)."""
    results = tmp_path_factory.mktemp("results")
    folders = []
    for argv in (SMALL_RUN, LOAD_RUN):
        done = harness(*argv, "--results", str(results))
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        folders.append(max(p for p in results.iterdir() if p.is_dir()))
    return folders[0], folders[1]


def later_copy(run: Path, into: Path) -> Path:
    """``run``'s data.json under a run id one minute later, in ``into``: a later run
    of the same cells (with the same figures)."""
    data = json.loads((run / "data.json").read_text())
    stamp, host = data["run_id"].split("-", 1)
    later = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ") + timedelta(minutes=1)
    data["run_id"] = f"{later:%Y%m%dT%H%M%SZ}-{host}"
    folder = into / data["run_id"]
    folder.mkdir(parents=True)
    (folder / "data.json").write_text(json.dumps(data))
    return folder


def test_a_quick_run_publishes_a_valid_complete_run(two_runs: tuple[Path, Path]) -> None:
    run = two_runs[0]
    data = json.loads((run / "data.json").read_text())
    validate(data)
    assert data["status"] == "complete"
    assert data["throughput"] and data["headroom"] and data["failures"] == []
    assert {"uvicorn"} <= set(data["servers"])
    assert data["environment"]["versions"]["channels"] != "not installed"
    text = (run / "report.md").read_text()
    assert text.index("## Summary") < text.index("## Setups")
    assert "uvicorn: async / sync" in text
    for plot in ("throughput", "latency_percentiles", "breakdown"):
        assert (run / "plots" / f"{plot}.svg").stat().st_size > 1000
    index = (run.parent / "README.md").read_text()
    assert index.index(two_runs[1].name) < index.index(run.name)  # newest first


def test_the_html_report_renders_in_chromium_without_errors(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    if chromium_path() is None:
        require_or_skip("Chromium", "not installed (Debian package: chromium)")
    page = check_page(two_runs[0] / "report.html", PLOT_SIZES)
    assert page.errors == []
    sizes = json.loads(page.value)
    assert len(sizes) >= 4
    assert all(width > 100 and height > 100 for width, height in sizes), sizes
    assert page.screenshot[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "report.png").write_bytes(page.screenshot)


def test_report_re_renders_a_run_from_its_data_alone(two_runs: tuple[Path, Path]) -> None:
    run = two_runs[0]
    before = (run / "report.md").read_text()
    for name in ("report.md", "report.html"):
        (run / name).unlink()
    shutil.rmtree(run / "plots")
    done = harness("report", str(run))
    assert done.returncode == 0, done.stderr
    assert (run / "report.md").read_text() == before
    assert (run / "report.html").exists() and (run / "plots" / "throughput.svg").exists()


def test_report_compare_shows_each_figure_against_the_spread(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    older = two_runs[0]
    newer = later_copy(older, tmp_path)
    assert harness("report", str(newer)).returncode == 0
    done = harness("report", str(newer), "--compare", str(older))
    assert done.returncode == 0, done.stderr
    text = (newer / f"compare-{older.name}.md").read_text()
    assert "| throughput: uvicorn async c=50 32B-text | msgs/s |" in text
    assert "| handshake: uvicorn async | handshakes/s |" in text
    assert "do not overlap" in text


def test_a_published_run_with_locust_cells_stays_within_its_size_budget(
    two_runs: tuple[Path, Path],
) -> None:
    run = two_runs[1]
    assert json.loads((run / "data.json").read_text())["locust"]
    assert [p.name for p in run.rglob("*.html")] == ["report.html"]
    assert folder_size(run) <= BUDGET_BYTES
    with tarfile.open(run / "locust.tar.gz") as packed:
        names = packed.getnames()
    assert any(name.endswith("/locust.json") for name in names), "locust's statistics are kept"
    assert not (run / "locust").exists()


def test_ctrl_c_keeps_finished_cells_and_marks_the_run_incomplete(tmp_path: Path) -> None:
    # One flavour: its first cell's rows come after 6 rounds instead of 12.
    one_flavour = [*SMALL_RUN[:-1], "async"]
    with _spawn.started(
        [*HARNESS, *one_flavour, "--results-dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ENV,
    ) as proc:
        deadline = time.monotonic() + scaled(120)
        rows = 0
        while time.monotonic() < deadline and not rows:
            time.sleep(0.2)
            for data_file in tmp_path.glob("*/data.json"):
                rows = len(json.loads(data_file.read_text())["throughput"])
        assert rows, "no throughput cell finished in time"
        children = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=scaled(60)) == 130
    run = only_run(tmp_path)
    data = json.loads((run / "data.json").read_text())
    validate(data)
    assert data["status"] == "incomplete"
    assert len(data["throughput"]) >= rows
    assert "**INCOMPLETE**" in (run / "report.md").read_text()
    assert not list(tmp_path.rglob(".tmp-*"))
    time.sleep(0.5)
    left = [
        pid
        for pid in children
        if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    ]
    assert left == []
