"""The feature table, "N/A (would be ...)" and wire-extension N/A: unit checks and one
real run of a few cases on daphne (which advertises spec 2.0 and declines deflate)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import _spawn

from channels_harness.experiments.conformance import featuretable
from channels_harness.experiments.conformance.grades import Grade
from channels_harness.experiments.conformance.matrix import grade_label
from channels_harness.experiments.conformance.runner import add_matrix
from channels_harness.experiments.conformance.verdict import Verdict
from channels_harness.report.model import Run
from channels_harness.report.rows import ConformanceFeatureRow, ConformanceRow
from channels_harness.runtime.paths import CONFORMANCE_DIR, PROJECT_DIR


def row(case: str, server: str, flavour: str, **features: str) -> dict[str, object]:
    return {"case": case, "server": server, "flavour": flavour, "features": features}


class TestFeatureTable:
    def test_values_merge_per_server_in_feature_order(self) -> None:
        rows = [
            row("test_b", "s1", "-", **{featuretable.CLOSE_REASON: "client to app: delivered"}),
            row("test_a", "s1", "sync", **{featuretable.CLOSE_REASON: "app to client: sent"}),
            row("test_a", "s1", "async", **{featuretable.CLOSE_REASON: "app to client: sent"}),
            row("test_c", "s1", "-", **{featuretable.SPEC_VERSION: "2.4"}),
        ]
        table = featuretable.feature_table(rows, ["s1", "s2"])
        assert [(e["server"], e["feature"]) for e in table] == [
            ("s1", featuretable.SPEC_VERSION),
            ("s1", featuretable.CLOSE_REASON),
            ("s2", featuretable.SPEC_VERSION),
            ("s2", featuretable.CLOSE_REASON),
        ]
        assert table[1]["value"] == "client to app: delivered; app to client: sent"
        assert table[1]["cases"] == ["test_b", "test_a"]
        assert table[2]["value"] == featuretable.NOT_OBSERVED

    def test_flavours_are_named_when_they_disagree(self) -> None:
        rows = [
            row("test_a", "s1", "sync", x="no"),
            row("test_a", "s1", "async", x="yes"),
        ]
        assert featuretable.feature_table(rows, ["s1"])[0]["value"] == "sync: no; async: yes"


class TestWouldBe:
    def test_not_applicable_that_ran_keeps_what_it_would_be(self) -> None:
        verdict = Verdict(not_applicable="needs 2.3")
        verdict.must(False, expected="a", observed="b")
        assert (verdict.grade, verdict.would_be) == (Grade.NOT_APPLICABLE, Grade.FAIL)

    def test_not_applicable_that_did_not_run_has_none(self) -> None:
        assert Verdict(not_applicable="needs 2.3").would_be is None
        assert Verdict().would_be is None

    def test_label(self) -> None:
        assert grade_label({"grade": "N/A", "would_be": "FAIL"}) == "N/A (would be FAIL)"
        assert grade_label({"grade": "N/A", "would_be": ""}) == "N/A"
        assert grade_label({"grade": "PASS"}) == "PASS"


CASES = (
    "test_close_reason_reaches_the_client or test_scope_spec_version_is_recorded"
    " or test_deflate_offer_is_answered_validly or test_compressed_text_round_trips"
)


def test_a_run_carries_features_and_what_n_a_cases_would_be(tmp_path: Path) -> None:
    """On daphne: the close reason case is N/A (spec 2.0) but ran and would FAIL; the
    compressed text case is N/A without running; the features reach matrix.md and the run."""
    out = tmp_path / "matrix"
    command = [sys.executable, "-m", "pytest", str(CONFORMANCE_DIR), "-q", "-p", "no:xdist"]
    command += ["--conformance-out", str(out), "--servers", "daphne", "-k", CASES]
    done = _spawn.run(command, cwd=PROJECT_DIR, text=False, timeout=240)
    assert done.returncode == 0, done.stdout.decode()[-2000:]
    document = json.loads((out / "matrix.json").read_text())
    grades = {(r["case"], r["flavour"]): (r["grade"], r["would_be"]) for r in document["rows"]}
    assert grades[("test_close_reason_reaches_the_client", "async")] == ("N/A", "FAIL")
    assert grades[("test_compressed_text_round_trips", "-")] == ("N/A", "")
    features = {f["feature"]: f["value"] for f in document["features"]}
    assert features[featuretable.SPEC_VERSION].startswith("2.0")
    assert features[featuretable.PERMESSAGE_DEFLATE].startswith("declined")
    assert features[featuretable.CLOSE_REASON].startswith("app to client: not sent")
    markdown = (out / "matrix.md").read_text()
    assert "## Features (as observed)" in markdown and "N/A (would be FAIL)" in markdown

    run = Run.create(tmp_path, kind="conformance")
    add_matrix(run, out / "matrix.json")
    assert len(run.rows(ConformanceRow)) == len(document["rows"])
    table = run.rows(ConformanceFeatureRow)
    assert {f.server for f in table} == {"daphne"} and len(table) == len(document["features"])


def test_report_shows_features_first_and_what_n_a_would_be(tmp_path: Path) -> None:
    """report.md: the feature table opens the conformance section, deviating N/A rows get
    their own table, and compression rows their section."""
    from channels_harness.report import export, markdown
    from channels_harness.report.rows import CompressionRow

    run = Run.create(tmp_path, kind="all")
    base: dict[str, Any] = {"clause": "c", "title": "t", "area": "a", "expected": "e"}
    run.extend(
        [
            ConformanceRow(
                case="test_x", server="s1", flavour="-", grade="PASS", observed="o", **base
            ),
            ConformanceRow(
                case="test_y", server="s2", flavour="sync", grade="N/A", would_be="FAIL",
                observed="needs 2.3; ran anyway: close 4002", **base,
            ),
            ConformanceFeatureRow(server="s1", feature="permessage-deflate", value="agreed: x"),
            ConformanceFeatureRow(server="s2", feature="permessage-deflate", value="declined"),
            CompressionRow(
                server="s1", flavour="async", payload="chat", payload_bytes=1024,
                compression="permessage-deflate", messages=10, runs=1, msgs_per_s=5.0,
                wire_bytes_per_msg=300.0, wire_bytes_ratio=0.15,
            ),
        ]
    )  # fmt: skip
    text = markdown.render(run.data)
    conformance = text[text.index("## Conformance") :]
    assert conformance.index("### Features (as observed)") < conformance.index("conformance grid")
    assert "| permessage-deflate | agreed: x | declined |" in conformance
    assert "| s2 | test_y | N/A (would be FAIL) | needs 2.3; ran anyway: close 4002 |" in text
    assert "## permessage-deflate (echo with and without compression)" in text
    names = dict(export.tables(run.data))
    assert "conformance_features.csv" in names and "compression.csv" in names
    assert b"N/A (would be FAIL)" in export.conformance_junit(run.data)
