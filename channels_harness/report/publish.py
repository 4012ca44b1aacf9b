"""Render a run folder from its data.json alone: plots, report.md, report.html,
and the results index beside it."""

from __future__ import annotations

from pathlib import Path

from channels_harness.report import html as htmlpage
from channels_harness.report import index, markdown, plots
from channels_harness.report.lean import slim
from channels_harness.report.model import Run, write_atomic, write_atomic_bytes


def publish(run: Run, keep_raw: bool = False) -> dict[str, Path]:
    """Write the plots, report.md and report.html of ``run``, slim the folder
    (:func:`~channels_harness.report.lean.slim`, unless ``keep_raw``) and refresh
    the index.

    Returns the paths written. Each file is written atomically, so a reader (or
    a crash) never sees half of one.
    """
    data = run.data
    drawn = plots.render_all(data)
    written: dict[str, Path] = {}
    for name, svg in drawn.items():
        path = run.path / "plots" / f"{name}.svg"
        write_atomic_bytes(path, svg)
        written[f"plot:{name}"] = path
    text = markdown.render(data, plots=drawn.keys())
    write_atomic(run.path / "report.md", text)
    written["report.md"] = run.path / "report.md"
    page = htmlpage.render(text, drawn, title=f"Channels harness run {data['run_id']}")
    write_atomic(run.path / "report.html", page)
    written["report.html"] = run.path / "report.html"
    if not keep_raw:
        slimmed = slim(run.path)
        if slimmed.over_budget:
            written["over budget"] = run.path
    written["index"] = index.write(run.path.parent)
    return written
