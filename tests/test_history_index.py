"""The results index: every run kind fills its line, and the History section shows
each headline cell with a trend plot kept beside the index (small files, stale
ones removed), over hand-made runs and over the committed ones."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from test_history import publish, run_data

from channels_harness.report import index
from channels_harness.runtime.paths import RESULTS_DIR


def line_of(text: str, run_id: str) -> list[str]:
    """The cells of the index's line for ``run_id``."""
    (line,) = [ln for ln in text.splitlines() if ln.startswith(f"| [{run_id}]")]
    return [cell.strip() for cell in line.strip("|").split(" | ")]


def test_limits_and_versions_runs_fill_their_line() -> None:
    text = index.render(RESULTS_DIR)
    limits = line_of(text, "20261130T032016Z-vm")
    assert limits[4] == "held: hypercorn 19,978 (fd-limit), granian 19,962 (fd-limit)"
    assert limits[5:] == ["-", "-", "-"]  # one flavour, no generator, no conformance
    versions = line_of(text, "20261130T021756Z-vm")
    assert versions[4] == "uvicorn async 16,107/s (channels 4.1.0, daphne 4.2.3, uvicorn 0.54.0)"
    assert "channels 4.1.0, daphne 4.2.3, uvicorn 0.54.0: daphne: async / sync" in versions[5]
    assert re.fullmatch(r"\d+\.\dx-\d+\.\dx over 4 stacks", versions[6])
    assert re.fullmatch(r"daphne \d+-\d+, uvicorn \d+-\d+", versions[7])
    for run_id, figure in (
        ("20261125T111804Z-vm", "daphne async 10 min: stable"),
        ("20261125T111307Z-vm", "deliveries/s"),
        ("20261125T112806Z-vm", "processes"),
    ):
        assert figure in line_of(text, run_id)[4]
    full = line_of(text, "20261130T013000Z-vm")
    assert full[4] == "uvicorn generic-async 8,912/s" and full[6] == "9.7x"


def test_the_published_index_is_what_the_tool_writes_with_every_trend_plot() -> None:
    published = (RESULTS_DIR / "README.md").read_text(encoding="utf-8")
    assert published == index.render(RESULTS_DIR)
    linked = set(re.findall(r"\]\((trend--[^)]+\.svg)\)", published))
    assert linked == {p.name for p in RESULTS_DIR.glob("trend--*.svg")}
    assert all((RESULTS_DIR / name).stat().st_size < 4096 for name in linked)
    assert "| #8 20261130T021756Z-vm [channels 4.1.0, daphne 4.2.3, uvicorn 0.54.0] |" in published
    assert "throughput uvicorn async c=50 32B-text: 5,826 -> 16,107 (+176%)" in published


def test_the_index_draws_a_trend_per_cell_beside_it_and_removes_stale_ones(
    tmp_path: Path,
) -> None:
    for day, rate in enumerate((4000, 4010, 6000), start=1):
        publish(tmp_path, run_data(f"202601{day:02d}T10Z", {"sync": 2000, "async": rate}))
    stale = tmp_path / "trend--throughput--gone.svg"
    stale.write_text("<svg/>", encoding="utf-8")
    mine = tmp_path / "mine.svg"
    mine.write_text("<svg/>", encoding="utf-8")
    readme = index.write(tmp_path).read_text(encoding="utf-8")
    drawn = sorted(p.name for p in tmp_path.glob("trend--*.svg"))
    assert drawn == [
        "trend--p99--daphne-async-c-50-32b-text.svg",
        "trend--p99--daphne-sync-c-50-32b-text.svg",
        "trend--sync-vs-async--daphne-async-sync-c-50-32b-text.svg",
        "trend--throughput--daphne-async-c-50-32b-text.svg",
        "trend--throughput--daphne-sync-c-50-32b-text.svg",
    ]
    for name in drawn:
        assert f"![trend]({name})" in readme
        assert (tmp_path / name).read_bytes().startswith(b"<?xml")
    assert mine.exists()  # only the index's own plots are removed
    # Every folder in a results folder is a run: the newest is still the newest entry.
    assert max(p for p in tmp_path.iterdir() if p.is_dir()).name == "20260103T10Z"
    assert "| #3 20260103T10Z | commit 20260102ab -> 20260103ab |" in readme
    assert "#3: 4,010 -> 6,000 (+50%)" in readme


def test_one_run_has_no_history_and_no_trend_plots(tmp_path: Path) -> None:
    publish(tmp_path, run_data("20260101T10Z", {"sync": 2000, "async": 4000}))
    readme = index.write(tmp_path).read_text(encoding="utf-8")
    assert "No headline cell has two points yet" in readme
    assert not list(tmp_path.glob("*.svg"))


def test_the_command_writes_the_index_on_request(tmp_path: Path) -> None:
    from channels_harness.cli import main

    run = "20261130T021756Z-vm"  # the versions run: its four stacks are four points
    (tmp_path / run).mkdir()
    shutil.copy(RESULTS_DIR / run / "data.json", tmp_path / run)
    assert main(["history", str(tmp_path)]) == 0
    assert not (tmp_path / "README.md").exists()
    assert main(["history", str(tmp_path), "--write-index"]) == 0
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "channels 4.3.2 -> 4.1.0" in readme
    assert sorted(p.name for p in (tmp_path / run).iterdir()) == ["data.json"]  # left alone
