"""Case metadata: each conformance test names the clause it checks.

A test is marked with :func:`case`; its name is the case id, the first line
of its docstring the one-line description, its module (``test_<area>.py``)
the area.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

MARKER = "conformance_case"
F = TypeVar("F", bound=Callable[..., Any])


def case(
    clause: str,
    *,
    min_spec: str | None = None,
    extension: str | None = None,
    wire_extension: str | None = None,
    bad_input: bool = False,
    late: bool = False,
) -> Callable[[F], F]:
    """Mark a test as a conformance case citing ``clause``.

    ``min_spec``: the ASGI spec version the case needs (older servers grade
    N/A, and the case runs anyway). ``extension``: a scope extension the case
    needs. ``wire_extension``: a WebSocket extension (RFC 6455 9) the server
    must agree to when offered, such as ``permessage-deflate``; without the
    extension or the wire extension the case cannot start and is N/A, not run.
    ``bad_input``: after the case, a fresh connection must still echo (the
    canary). ``late``: run after the other cases (it reads what a session-long
    observation saw).
    """
    marker = pytest.mark.conformance_case(
        clause=clause,
        min_spec=min_spec,
        extension=extension,
        wire_extension=wire_extension,
        bad_input=bad_input,
        late=late,
    )

    def decorate(function: F) -> F:
        return marker(function)

    return decorate


@dataclass(frozen=True)
class CaseInfo:
    """What the matrix says about a case, independent of the server."""

    name: str
    clause: str
    title: str
    area: str
    min_spec: str | None
    extension: str | None
    bad_input: bool
    wire_extension: str | None = None
    late: bool = False


def case_info(item: pytest.Item) -> CaseInfo | None:
    """The case metadata of a collected test, or None if it is not a case."""
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return None
    function = getattr(item, "function", None)
    doc = (getattr(function, "__doc__", None) or "").strip()
    module = getattr(item, "module", None)
    module_name = getattr(module, "__name__", "").rsplit(".", 1)[-1]
    return CaseInfo(
        name=getattr(item, "originalname", item.name),
        clause=marker.kwargs["clause"],
        title=doc.splitlines()[0] if doc else "",
        area=module_name.removeprefix("test_"),
        min_spec=marker.kwargs.get("min_spec"),
        extension=marker.kwargs.get("extension"),
        bad_input=bool(marker.kwargs.get("bad_input")),
        wire_extension=marker.kwargs.get("wire_extension"),
        late=bool(marker.kwargs.get("late")),
    )


def cell(item: pytest.Item) -> tuple[str, str]:
    """``(server, flavour)`` of a parametrized case; flavour ``-`` when it does not matter."""
    params: dict[str, Any] = getattr(getattr(item, "callspec", None), "params", {})
    flavour = params.get("flavour", params.get("probe_flavour", "-"))
    return str(params.get("server_name", "-")), str(flavour)


def version_tuple(text: str) -> tuple[int, ...]:
    """``"2.10"`` as ``(2, 10)`` so versions compare as numbers."""
    return tuple(int(part) for part in text.split(".") if part.isdigit())
