"""One scalable unit for every timeout the harness waits on.

A loaded or slow machine sets ``HARNESS_TIMEOUT_FACTOR`` (for example ``3``)
and every wait grows with it, instead of each test carrying its own guess.
"""

import os


def factor() -> float:
    """The multiplier from ``HARNESS_TIMEOUT_FACTOR`` (default 1, never below 0.1)."""
    try:
        value = float(os.environ.get("HARNESS_TIMEOUT_FACTOR", "1"))
    except ValueError:
        return 1.0
    return max(value, 0.1)


def scaled(seconds: float) -> float:
    """``seconds`` times the timeout factor."""
    return seconds * factor()
