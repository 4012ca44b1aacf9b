"""The fixed set of grades a conformance case ends with (Autobahn style)."""

from __future__ import annotations

import enum


class Grade(enum.StrEnum):
    """How a server did on one case.

    PASS: as the spec says. NON-STRICT: a SHOULD missed (e.g. the connection
    dropped without the close frame the RFC asks for). FAIL: a MUST broken.
    INFO: a recorded value, not judged. N/A: the server does not advertise the
    spec version or extension the case needs, or does not agree to the
    WebSocket extension (permessage-deflate) it needs.
    """

    PASS = "PASS"
    NON_STRICT = "NON-STRICT"
    FAIL = "FAIL"
    INFO = "INFO"
    NOT_APPLICABLE = "N/A"

    @property
    def is_deviation(self) -> bool:
        """Whether this grade means the server did not do what the spec says."""
        return self in (Grade.NON_STRICT, Grade.FAIL)


# Worst first: the grade of a case is the worst of its checks.
SEVERITY = (Grade.FAIL, Grade.NON_STRICT, Grade.INFO, Grade.PASS)


def worst(grades: list[Grade]) -> Grade:
    """The most severe of ``grades`` (PASS when there are none)."""
    for grade in SEVERITY:
        if grade in grades:
            return grade
    return Grade.PASS
