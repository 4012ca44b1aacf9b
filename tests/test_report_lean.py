"""Lean run folders: data.json one row per line, raw per-cell files packed the same
way every time, duplicates of the report removed, the HTML's SVG compacted."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from channels_harness.report.html import compact_svg
from channels_harness.report.lean import pack, slim
from channels_harness.report.model import dumps


def test_data_json_has_one_row_per_line_and_reads_back_the_same() -> None:
    data = {
        "schema_version": 1,
        "options": {"servers": ["daphne", "uvicorn"], "quick": True},
        "throughput": [{"server": "daphne", "msgs_per_s": 1.5}, {"server": "uvicorn", "x": None}],
        "empty": [],
    }
    text = dumps(data)
    assert json.loads(text) == data
    lines = text.splitlines()
    assert '  {"server":"daphne","msgs_per_s":1.5},' in lines
    assert '  {"server":"uvicorn","x":null}' in lines


def _cells(root: Path) -> Path:
    for cell in ("echo-a", "echo-b"):
        (root / "locust" / cell).mkdir(parents=True)
        (root / "locust" / cell / "locust.json").write_text(json.dumps({"cell": cell}))
        (root / "locust" / cell / "locust.log").write_text("started\n" * 100)
    return root / "locust"


def test_packing_gives_the_same_bytes_for_the_same_files_and_unpacks_whole(
    tmp_path: Path,
) -> None:
    first = pack(_cells(tmp_path / "one"))
    second = pack(_cells(tmp_path / "two"))
    assert first.name == "locust.tar.gz" and not (tmp_path / "one" / "locust").exists()
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as archive:
        archive.extractall(tmp_path / "back", filter="data")
    assert json.loads((tmp_path / "back/locust/echo-b/locust.json").read_text()) == {
        "cell": "echo-b"
    }


def test_slim_packs_raw_cells_and_drops_what_the_report_shows(tmp_path: Path) -> None:
    _cells(tmp_path)
    for name in ("report.md", "report.html", "data.json"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "conformance").mkdir()
    (tmp_path / "conformance" / "matrix.md").write_text("# matrix")
    (tmp_path / "conformance" / "pytest.log").write_text("ok")
    (tmp_path / "locust" / "echo-a" / "locust.html").write_text("<html>")
    done = slim(tmp_path)
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == [
        "conformance/pytest.log",
        "data.json",
        "locust.tar.gz",
        "report.html",
        "report.md",
    ]
    assert done.packed == [tmp_path / "locust.tar.gz"] and not done.over_budget


def test_compact_svg_keeps_every_element_and_number() -> None:
    svg = '<svg>\n  <g id="a">\n   <path d="M 1.5 2 \nL 3 4 \nz\n" style="x"/>\n  </g>\n</svg>'
    assert (
        compact_svg(svg) == '<svg>\n<g id="a">\n<path d="M 1.5 2 L 3 4 z" style="x"/>\n</g>\n</svg>'
    )
