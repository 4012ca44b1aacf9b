"""Every committed run re-renders from its data.json alone into the report.md
that was published with it, byte for byte: the renderers may be reshaped, the
reports they produce may not change unless the schema version says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from channels_harness.report import markdown, plots, schema
from channels_harness.runtime.paths import RESULTS_DIR

PUBLISHED = sorted(
    p.parent for p in RESULTS_DIR.glob("*/report.md") if (p.parent / "data.json").exists()
)


def test_there_are_committed_runs_to_check() -> None:
    assert len(PUBLISHED) >= 5, PUBLISHED


@pytest.mark.parametrize("folder", PUBLISHED, ids=[p.name for p in PUBLISHED])
def test_a_committed_run_re_renders_its_report_unchanged(folder: Path) -> None:
    data = json.loads((folder / "data.json").read_text(encoding="utf-8"))
    drawn = {p.stem for p in (folder / "plots").glob("*.svg")}
    rendered = markdown.render(data, plots=drawn)
    published = (folder / "report.md").read_text(encoding="utf-8")
    assert rendered.splitlines() == published.splitlines()


@pytest.mark.parametrize("folder", PUBLISHED, ids=[p.name for p in PUBLISHED])
def test_a_committed_run_re_draws_its_plots_unchanged(folder: Path) -> None:
    data = json.loads((folder / "data.json").read_text(encoding="utf-8"))
    drawn = plots.render_all(data)
    published = {p.stem: p.read_bytes() for p in (folder / "plots").glob("*.svg")}
    assert sorted(drawn) == sorted(published)
    for name, svg in drawn.items():
        assert svg == published[name], name


def test_schema_json_is_the_schema_the_rows_define() -> None:
    assert schema.schema() == schema.build(), (
        "regenerate: python -m channels_harness.report.schema > channels_harness/report/schema.json"
    )


@pytest.mark.parametrize("folder", PUBLISHED, ids=[p.name for p in PUBLISHED])
def test_a_committed_run_is_valid_against_the_schema(folder: Path) -> None:
    schema.validate(json.loads((folder / "data.json").read_text(encoding="utf-8")))
