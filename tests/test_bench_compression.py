"""permessage-deflate in the bench (experiments/bench/compression.py), against real servers."""

from __future__ import annotations

from pathlib import Path

from channels_harness.experiments.bench.compression import (
    OFF,
    CompressionConfig,
    chat_messages,
    run_compression,
)
from channels_harness.report.model import Run
from channels_harness.report.rows import CompressionRow

SMALL = CompressionConfig(messages=120, runs=2, connections=2, timeout_s=20.0)


def test_chat_messages_differ_and_have_the_size_asked() -> None:
    payloads = chat_messages(512, count=8)
    assert len(set(payloads)) == 8
    assert all(len(p) == 512 and p.isascii() for p in payloads)


def test_run_compression_measures_servers_that_agree_and_notes_the_others(
    tmp_path: Path,
) -> None:
    """uvicorn agrees to deflate: an off row and a deflate row, paired; granian declines."""
    run = Run.create(tmp_path, kind="bench")
    run_compression(run, ["uvicorn", "granian"], config=SMALL)
    rows = run.rows(CompressionRow)
    assert [(r.server, r.compression == OFF) for r in rows] == [
        ("uvicorn", True),
        ("uvicorn", False),
    ]
    off, on = rows
    assert on.compression.startswith("permessage-deflate")
    assert off.errors == on.errors == 0
    assert off.messages == on.messages == SMALL.messages * SMALL.runs
    assert len(on.msgs_per_s_runs) == SMALL.runs and on.msgs_per_s > 0
    # Chat JSON compresses: far fewer bytes on the wire with deflate.
    assert on.wire_bytes_ratio is not None and on.wire_bytes_ratio < 0.5
    assert on.wire_bytes_per_msg < off.wire_bytes_per_msg
    assert on.msgs_per_s_ratio is not None and off.msgs_per_s_ratio is None
    assert off.client_cpu_us_per_msg and on.client_cpu_us_per_msg
    assert any("granian declines permessage-deflate" in note for note in run.data["notes"])
    assert CompressionRow.from_json(on.to_json()) == on
