"""Rules the repository's own suites keep (tests/, conformance/, bench/).

A test skipped for a missing outside dependency (a server not installed, no
redis-server, one core) goes through
:func:`channels_harness.testing.plugin.require_or_skip`, so that CI, which sets
``HARNESS_REQUIRE_ALL=1``, fails it instead of silently skipping it.
"""

from __future__ import annotations

import re

from channels_harness.runtime.paths import PROJECT_DIR

SUITES = ("tests", "conformance", "bench")
# A skip decided by the test itself: pytest.skip(...), skipif, importorskip, mark.skip.
OWN_SKIP = re.compile(r"pytest\.skip\(|\.skipif\(|importorskip\(|mark\.skip\b")


def own_skips(text: str) -> list[str]:
    """The lines of ``text`` that skip without :func:`require_or_skip`."""
    return [line.strip() for line in text.splitlines() if OWN_SKIP.search(line)]


def test_the_rule_finds_each_kind_of_skip() -> None:
    text = (
        'pytest.skip("no redis")\n@pytest.mark.skipif(True, reason="x")\n'
        'pytest.importorskip("trustme")\n@pytest.mark.skip(reason="later")\n'
        'require_or_skip("Redis", "not installed")\n'
    )
    assert len(own_skips(text)) == 4


def test_every_skip_in_the_suites_obeys_require_all() -> None:
    found = {
        str(path.relative_to(PROJECT_DIR)): lines
        for suite in SUITES
        for path in sorted((PROJECT_DIR / suite).rglob("*.py"))
        if path.name != "test_suite_rules.py" and (lines := own_skips(path.read_text("utf-8")))
    }
    assert not found, f"skip through require_or_skip instead: {found}"
