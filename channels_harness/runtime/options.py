"""Option values given as text, read the same way everywhere: the command line,
the pytest plugin's options and the locust users' ``--ws-*`` options."""

from __future__ import annotations


def comma_list(text: str | None) -> list[str]:
    """``"a, b,,c "`` -> ``["a", "b", "c"]``: the non-empty items, stripped; ``[]`` for
    None or an empty text."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]
