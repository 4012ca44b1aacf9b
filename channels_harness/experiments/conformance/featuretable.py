"""The feature table: per server, what the suite observed of each feature.

Cases record observations with :meth:`~.verdict.Verdict.feature`; the plugin
carries them on the matrix rows; :func:`feature_table` gathers them per server
and feature, in the order of :data:`FEATURES`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

SPEC_VERSION = "ASGI spec_version"
DENIAL_RESPONSE = "websocket.http.response"
PERMESSAGE_DEFLATE = "permessage-deflate"
MAX_MESSAGE = "maximum message size"
KEEPALIVE_INTERVAL = "keepalive ping interval"
KEEPALIVE_TIMEOUT = "keepalive ping timeout"
SUBPROTOCOLS = "subprotocol handling"
CLOSE_REASON = "close reason"

FEATURES = (
    SPEC_VERSION,
    DENIAL_RESPONSE,
    PERMESSAGE_DEFLATE,
    MAX_MESSAGE,
    KEEPALIVE_INTERVAL,
    KEEPALIVE_TIMEOUT,
    SUBPROTOCOLS,
    CLOSE_REASON,
)
NOT_OBSERVED = "not observed (its case did not run)"


def _merge(entries: list[tuple[str, str, str]]) -> str:
    """One value from ``(case, flavour, value)`` entries: cases joined in order, flavours
    named only when they disagree."""
    by_case: dict[str, dict[str, str]] = defaultdict(dict)
    for case, flavour, value in entries:
        by_case[case][flavour] = value
    parts = []
    for values in by_case.values():
        distinct = list(dict.fromkeys(values.values()))
        if len(distinct) == 1:
            parts.append(distinct[0])
        else:
            parts.append("; ".join(f"{flavour}: {value}" for flavour, value in values.items()))
    return "; ".join(dict.fromkeys(parts))


def feature_table(rows: list[dict[str, Any]], servers: list[str]) -> list[dict[str, Any]]:
    """One entry per server and feature: ``{server, feature, value, cases}``.

    Features come in :data:`FEATURES` order (any other after); a feature some
    server showed but another did not gets :data:`NOT_OBSERVED` for the latter.
    """
    seen: dict[tuple[str, str], list[tuple[str, str, str]]] = defaultdict(list)
    for row in rows:
        for feature, value in (row.get("features") or {}).items():
            seen[(row["server"], feature)].append((row["case"], row["flavour"], value))
    names = {feature for _, feature in seen}
    ordered = [f for f in FEATURES if f in names] + sorted(names - set(FEATURES))
    table = []
    for server in servers:
        for feature in ordered:
            entries = seen.get((server, feature), [])
            table.append(
                {
                    "server": server,
                    "feature": feature,
                    "value": _merge(entries) if entries else NOT_OBSERVED,
                    "cases": list(dict.fromkeys(case for case, _, _ in entries)),
                }
            )
    return table
