"""Every committed run re-renders from its data.json alone into the report.md
that was published with it, byte for byte: the renderers may be reshaped, the
reports they produce may not change unless the schema version says so.

Its plots are re-drawn the same too, up to the floating-point noise of the CPU
they are drawn on: the text around the numbers must be identical, whole numbers
(ids, counts) equal, and decimals within :data:`PLOT_TOLERANCE` (a run published
from an Intel VM re-draws on an AMD one with coordinates one millionth of a pixel
apart).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from channels_harness.report import markdown, plots, schema
from channels_harness.runtime.paths import RESULTS_DIR

PUBLISHED = sorted(
    p.parent for p in RESULTS_DIR.glob("*/report.md") if (p.parent / "data.json").exists()
)
# How far apart two drawings' decimals may be: a thousandth of an SVG unit (a pixel).
PLOT_TOLERANCE = 1e-3
DECIMAL = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?")


def svg_differences(drawn: str, published: str, tolerance: float = PLOT_TOLERANCE) -> list[str]:
    """Where two SVG texts differ beyond ``tolerance``: the text between decimals must be
    the same, each decimal within ``tolerance`` of its counterpart; at most 5 places."""
    texts = DECIMAL.split(drawn), DECIMAL.split(published)
    numbers = DECIMAL.findall(drawn), DECIMAL.findall(published)
    if texts[0] != texts[1]:
        pairs = enumerate(zip(*texts, strict=False))
        first = next((i for i, (a, b) in pairs if a != b), min(map(len, texts)))
        return [f"the text differs after decimal #{first}"]
    far = [
        f"decimal #{i}: {a} against {b}"
        for i, (a, b) in enumerate(zip(*numbers, strict=True))
        if not math.isclose(float(a), float(b), rel_tol=0.0, abs_tol=tolerance)
    ]
    return far[:5]


def test_plots_compare_within_the_tolerance_and_no_further() -> None:
    published = '<use x="264.353984" y="222.502313" id="m0f99356f05"/>'
    assert svg_differences(published.replace("222.502313", "222.502312"), published) == []
    assert svg_differences(published.replace("222.502313", "222.512313"), published) == [
        "decimal #1: 222.512313 against 222.502313"
    ]
    assert svg_differences(published.replace("m0f99356f05", "m0f99356f06"), published)
    assert svg_differences(published.replace("use", "line"), published)
    assert svg_differences(published + '<use x="1.5"/>', published)


def test_there_are_committed_runs_to_check() -> None:
    assert len(PUBLISHED) >= 5, PUBLISHED


@pytest.mark.parametrize("folder", PUBLISHED, ids=[p.name for p in PUBLISHED])
def test_a_committed_run_re_renders_its_report_unchanged(folder: Path) -> None:
    data = json.loads((folder / "data.json").read_text(encoding="utf-8"))
    drawn = {p.stem for p in (folder / "plots").glob("*.svg")}
    rendered = markdown.render(data, plots=drawn)
    published = (folder / "report.md").read_bytes()
    assert rendered.encode("utf-8") == published


@pytest.mark.parametrize("folder", PUBLISHED, ids=[p.name for p in PUBLISHED])
def test_a_committed_run_re_draws_its_plots_unchanged(folder: Path) -> None:
    data = json.loads((folder / "data.json").read_text(encoding="utf-8"))
    drawn = plots.render_all(data)
    published = {p.stem: p.read_bytes() for p in (folder / "plots").glob("*.svg")}
    assert sorted(drawn) == sorted(published)
    for name, svg in drawn.items():
        assert not svg_differences(svg.decode(), published[name].decode()), name


def test_schema_json_is_the_schema_the_rows_define() -> None:
    assert schema.schema() == schema.build(), (
        "regenerate: python -m channels_harness.report.schema > channels_harness/report/schema.json"
    )


@pytest.mark.parametrize("folder", PUBLISHED, ids=[p.name for p in PUBLISHED])
def test_a_committed_run_is_valid_against_the_schema(folder: Path) -> None:
    schema.validate(json.loads((folder / "data.json").read_text(encoding="utf-8")))
