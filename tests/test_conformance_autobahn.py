"""The Autobahn map (conformance/autobahn_map.toml): every Autobahn case id of sections
1-7, 9, 10, 12 and 13 is mapped to cases that exist, or to a reason.

The id list the harness builds is checked against Autobahn's own case list,
``autobahn-cases.tsv`` (id, description, expectation; one line per case of
Autobahn|Testsuite 0.8.2), which CI keeps beside the clone in ``../shared/``
(``HARNESS_AUTOBAHN_CASES`` names another place).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from channels_harness.experiments.conformance.autobahn import (
    AUTOBAHN_GROUPS,
    MapFileError,
    autobahn_ids,
    declared_cases,
    load_map,
    matches,
)
from channels_harness.runtime.paths import PROJECT_DIR
from channels_harness.testing.plugin import require_or_skip

CASES_FILE = Path(
    os.environ.get("HARNESS_AUTOBAHN_CASES") or PROJECT_DIR.parent / "shared" / "autobahn-cases.tsv"
)


def autobahn_case_list() -> list[str]:
    """The case ids of Autobahn's own list, in its order."""
    if not CASES_FILE.is_file():
        require_or_skip("Autobahn's case list", f"{CASES_FILE} is not there")
    with open(CASES_FILE, encoding="utf-8", newline="") as handle:
        return [row["id"] for row in csv.DictReader(handle, delimiter="\t")]


def test_the_id_list_is_autobahn_s_case_list() -> None:
    listed = autobahn_case_list()
    ids = autobahn_ids()
    assert len(ids) == len(set(ids)) == sum(AUTOBAHN_GROUPS.values())
    assert ids == listed, sorted(set(ids) ^ set(listed))[:20]


def test_every_autobahn_id_is_mapped() -> None:
    entries = load_map()
    unmapped = [
        case_id for case_id in autobahn_ids() if not any(e.covers(case_id) for e in entries)
    ]
    assert not unmapped, f"{len(unmapped)} Autobahn ids without a map entry: {unmapped[:20]}"


def test_every_pattern_matches_an_autobahn_id() -> None:
    ids = autobahn_ids()
    stale = [p for e in load_map() for p in e.ids if not any(matches(p, i) for i in ids)]
    assert not stale, f"map patterns that match no Autobahn id: {stale}"


def test_every_named_case_exists() -> None:
    cases = declared_cases()
    assert len(cases) >= 120
    missing = sorted({c for e in load_map() for c in e.cases} - cases)
    assert not missing, f"map names cases that do not exist: {missing}"


def test_patterns_match_ids_and_groups() -> None:
    assert matches("6.4.*", "6.4.12") and matches("6.4.*", "6.4.1")
    assert not matches("6.4.*", "6.40.1") and not matches("6.4.*", "6.4")
    assert matches("2.1", "2.1") and not matches("2.1", "2.10")


@pytest.mark.parametrize(
    "body",
    [
        'what = "x"\ncases = ["test_a"]',
        'ids = ["1.1.1"]\ncases = ["test_a"]',
        'ids = ["1.1.1"]\nwhat = "x"',
        'ids = ["1.1.1"]\nwhat = "x"\ncases = ["test_a"]\nreason = "both"',
    ],
)
def test_malformed_entries_are_refused(tmp_path: Path, body: str) -> None:
    path = tmp_path / "map.toml"
    path.write_text(f"[[autobahn]]\n{body}\n", encoding="utf-8")
    with pytest.raises(MapFileError):
        load_map(path)
