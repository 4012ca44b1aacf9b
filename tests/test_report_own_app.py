"""Your app's rows (``bench --app``/``--url``, ``load --app``) are titled for what
was measured and show the path they loaded in a ``path`` column, apart from the
reference app's echo tables and their ``flavour`` column."""

from __future__ import annotations

from typing import Any

from channels_harness.report import markdown
from channels_harness.report.rows import HandshakeRow, LatencyRow, LocustRow, ThroughputRow


def _data(*rows: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": "bench", "run_id": "20990101T000000Z-test"}
    for row in rows:
        data.setdefault(row.SECTION, []).append(row.to_json())
    return data


def test_own_app_rows_have_their_own_tables_with_a_path_column() -> None:
    path = "/ws/chat/c{conn}/"
    data = _data(
        ThroughputRow(
            scenario="app",
            server="uvicorn",
            flavour=path,
            concurrency=50,
            payload="app",
            runs=2,
            msgs_per_s=1234.0,
            generator_bound=False,
        ),
        ThroughputRow(
            scenario="graphql",
            step="hello",
            server="daphne",
            flavour="/ws/graphql/",
            concurrency=50,
            payload="app",
            runs=2,
            msgs_per_s=321.0,
            generator_bound=False,
        ),
        LatencyRow(
            scenario="app",
            server="uvicorn",
            flavour=path,
            target_rate=600.0,
            achieved_rate=600.0,
            p99_ms=3.0,
        ),
        HandshakeRow(scenario="app", server="uvicorn", flavour=path, handshakes_per_s=200.0),
        LocustRow(
            scenario="app",
            server="uvicorn",
            flavour=path,
            failures=0,
            msgs_per_s=900.0,
            generator_bound=False,
        ),
    )
    text = markdown.render(data)
    assert "closed loop echo" not in text and "| flavour |" not in text
    assert "## Throughput of your app (closed loop)" in text
    assert "| uvicorn | /ws/chat/c{conn}/ | your messages |  | 50 | 1,234 |" in text
    # A scenario file's step rows have a table of their own (steps/s, push latency, other frames).
    assert "## Scenario steps (closed loop)" in text
    assert "| daphne | /ws/graphql/ | graphql | hello | 321 |" in text
    assert "| daphne | /ws/graphql/ | graphql | hello | 50 |" not in text
    for title in (
        "## Latency of your app against load (open loop)",
        "## Handshakes with your app",
        "## Locust runs against your app",
    ):
        assert title in text


def test_the_reference_apps_rows_keep_their_echo_tables() -> None:
    data = _data(
        ThroughputRow(
            server="uvicorn",
            flavour="async",
            concurrency=50,
            payload="32B-text",
            runs=2,
            msgs_per_s=5000.0,
            generator_bound=False,
        ),
        LatencyRow(
            server="uvicorn", flavour="async", target_rate=1.0, achieved_rate=1.0, p99_ms=1.0
        ),
    )
    text = markdown.render(data)
    assert "## Throughput (closed loop echo)" in text and "| server | flavour |" in text
    assert "## Latency against load (open loop)" in text and "your app" not in text
