"""JUnit XML, the one writer for everything the harness reports to a CI system:
``compare``'s regressions, ``conformance``'s graded cases and the thresholds
of bench, load and soak. Each is a list of :class:`Case`; :func:`write` groups
them into one testsuite per ``suite`` and counts tests, failures and skips."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    """One testcase: a failure (``failure`` is its type, ``message`` and ``detail``
    its text), a skip (``skipped`` its message) or a pass (with ``output``)."""

    suite: str
    classname: str
    name: str
    failure: str | None = None
    message: str = ""
    detail: str | None = None
    skipped: str | None = None
    output: str | None = None


def write(title: str, cases: Iterable[Case]) -> bytes:
    """The JUnit document of ``cases``: a ``testsuites`` element named ``title``,
    one ``testsuite`` per suite in first-seen order, with their counts."""
    root = ET.Element("testsuites", name=title)
    suites: dict[str, ET.Element] = {}
    for case in cases:
        suite = suites.get(case.suite)
        if suite is None:
            suite = suites[case.suite] = ET.SubElement(root, "testsuite", name=case.suite)
        element = ET.SubElement(suite, "testcase", classname=case.classname, name=case.name)
        if case.failure is not None:
            failure = ET.SubElement(element, "failure", message=case.message, type=case.failure)
            if case.detail is not None:
                failure.text = case.detail
        elif case.skipped is not None:
            ET.SubElement(element, "skipped", message=case.skipped)
        elif case.output is not None:
            ET.SubElement(element, "system-out").text = case.output
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for suite in suites.values():
        found = suite.findall("testcase")
        counts = {
            "tests": len(found),
            "failures": sum(1 for c in found if c.find("failure") is not None),
            "skipped": sum(1 for c in found if c.find("skipped") is not None),
        }
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
