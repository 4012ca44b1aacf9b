"""Compare two runs: each headline figure's change and whether it is outside
the runs' spread (the ranges of the two runs' repeated measurements do not
overlap)."""

from __future__ import annotations

from typing import Any

from channels_harness.report import summary
from channels_harness.report.markdown import fmt, table
from channels_harness.report.rows import HandshakeRow, ThroughputRow, rows_of

Key = tuple[str, ...]


def _throughput(data: dict[str, Any]) -> dict[Key, ThroughputRow]:
    return {
        ("echo", r.server, r.flavour, str(r.concurrency), str(r.payload)): r
        for r in rows_of(data, ThroughputRow)
        if r.msgs_per_s
    }


def _range(value: float, runs: list[float]) -> tuple[float, float, float]:
    return value, min(runs or [value]), max(runs or [value])


def changes(new: dict[str, Any], old: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per figure present in both runs."""
    out = []
    new_t, old_t = _throughput(new), _throughput(old)
    for key in sorted(new_t.keys() & old_t.keys()):
        a = _range(new_t[key].msgs_per_s, new_t[key].msgs_per_s_runs)
        b = _range(old_t[key].msgs_per_s, old_t[key].msgs_per_s_runs)
        out.append(_entry(" ".join(key[1:]) + " msgs/s", a, b))
    new_h = {(r.server, r.flavour): r for r in rows_of(new, HandshakeRow)}
    old_h = {(r.server, r.flavour): r for r in rows_of(old, HandshakeRow)}
    for key in sorted(new_h.keys() & old_h.keys()):
        a = _range(new_h[key].handshakes_per_s, [])
        b = _range(old_h[key].handshakes_per_s, [])
        out.append(_entry(f"{key[0]} {key[1]} handshakes/s", a, b))
    new_r = {r.label: r for r in summary.sync_vs_async(new)}
    old_r = {r.label: r for r in summary.sync_vs_async(old)}
    for label in sorted(new_r.keys() & old_r.keys()):
        x, y = new_r[label], old_r[label]
        out.append(_entry(f"{label} ratio", (x.value, x.low, x.high), (y.value, y.low, y.high)))
    return out


def _entry(
    label: str, new: tuple[float, float, float], old: tuple[float, float, float]
) -> dict[str, Any]:
    change = (new[0] - old[0]) / old[0] * 100 if old[0] else 0.0
    outside = new[1] > old[2] or new[2] < old[1]
    return {
        "figure": label,
        "old": old[0],
        "new": new[0],
        "change_pct": round(change, 1),
        "outside_spread": outside,
    }


def render(new: dict[str, Any], old: dict[str, Any]) -> str:
    """Markdown: the comparison table of ``new`` against ``old``."""
    found = changes(new, old)
    lines = [f"# `{new['run_id']}` compared with `{old['run_id']}`", ""]
    if not found:
        return "\n".join([*lines, "The two runs share no measured figure.", ""])
    lines.append(
        "A change is *outside the spread* when the ranges of the two runs' repeated "
        "measurements do not overlap; inside it, the difference is noise."
    )
    lines.append("")
    lines.append(
        table(
            ("figure", "old", "new", "change %", "outside spread"),
            (
                (
                    e["figure"],
                    fmt(e["old"]),
                    fmt(e["new"]),
                    f"{e['change_pct']:+.1f}",
                    "**yes**" if e["outside_spread"] else "no",
                )
                for e in found
            ),
        )
    )
    return "\n".join(lines) + "\n"
