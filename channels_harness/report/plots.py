"""Plots of a run (matplotlib, SVG), each drawn from data.json alone.

Every function takes the run's data and returns SVG bytes, or None when the
run has no rows for that plot (an incomplete or partial run).
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Protocol, TypeVar

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from channels_harness.report import intervals
from channels_harness.report.grades import GRADE_ORDER, SEVERITY
from channels_harness.report.rows import (
    PROFILE_GROUPS,
    PROFILE_OTHER,
    BreakdownRow,
    CapacityPointRow,
    ConformanceRow,
    FanoutRow,
    HandshakeRow,
    LatencyRow,
    LocustRow,
    MemoryRow,
    ProfileRow,
    R,
    SoakSampleRow,
    ThroughputRow,
    rows_of,
    unstacked,
)
from channels_harness.report.stacks import against_first
from channels_harness.report.summary import (
    cost_server_vs_server,
    cost_sync_vs_async,
    headline_cell,
    headline_rows,
    server_vs_server,
    sync_vs_async,
    tls_vs_plain,
)
from channels_harness.runtime.confidence import Interval
from channels_harness.servers.reference import FLAVOURS as FLAVOUR_ORDER

GRADE_COLOURS = {
    "PASS": "#4caf50",
    "NON-STRICT": "#ffb300",
    "FAIL": "#e53935",
    "INFO": "#42a5f5",
    "N/A": "#bdbdbd",
}

# One colour per profile group (report.rows.PROFILE_GROUPS), in the chart and the flame graphs.
PROFILE_COLOURS: dict[str, str] = dict(
    zip(
        (*PROFILE_GROUPS, PROFILE_OTHER),
        ("#5c6bc0", "#26a69a", "#ffa726", "#ef5350", "#8d6e63", "#66bb6a", "#b0bec5", "#616161"),
        strict=True,
    )
)

# svg.hashsalt makes element ids, and so the files, the same for the same data.
plt.rcParams.update(
    {"svg.fonttype": "none", "svg.hashsalt": "channels-harness", "font.size": 9, "figure.dpi": 100}
)


def _svg(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return buffer.getvalue()


def _flavour_key(flavour: str) -> tuple[float, str]:
    """Flavours in their usual order, each one's TLS variant ("async TLS") right after it."""
    base = flavour.removesuffix(" TLS")
    place = FLAVOUR_ORDER.index(base) if base in FLAVOUR_ORDER else len(FLAVOUR_ORDER)
    return (place + (0.5 if base != flavour else 0.0), flavour)


class _Cell(Protocol):
    """A row with a server and a flavour (what grouped bars group by)."""

    @property
    def server(self) -> str: ...

    @property
    def flavour(self) -> str: ...


C = TypeVar("C", bound=_Cell)


def _grouped_bars(
    rows: Sequence[C],
    value: Callable[[C], float],
    title: str,
    ylabel: str,
    err: Callable[[C], tuple[float, float]] | None = None,
    log: bool = False,
    hatched: Callable[[C], bool] | None = None,
) -> bytes | None:
    """Bars grouped by server, one colour per flavour (rows have ``server`` and
    ``flavour``); the bars ``hatched`` picks are hatched."""
    if not rows:
        return None
    servers = sorted({r.server for r in rows})
    flavours = sorted({r.flavour for r in rows}, key=_flavour_key)
    cells = {(r.server, r.flavour): r for r in rows}
    width = 0.8 / len(flavours)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(servers) + 2), 3.6))
    handles: list[Any] = []
    any_hatched = False
    for i, flavour in enumerate(flavours):
        xs, heights, errors, picked = [], [], [], []
        for j, server in enumerate(servers):
            row = cells.get((server, flavour))
            if row is None:
                continue
            xs.append(j + (i - (len(flavours) - 1) / 2) * width)
            heights.append(value(row))
            errors.append(err(row) if err else (0.0, 0.0))
            picked.append(hatched(row) if hatched else False)
        yerr = [[e[0] for e in errors], [e[1] for e in errors]] if err else None
        bars = ax.bar(xs, heights, width, label=flavour, yerr=yerr, capsize=2)
        for bar, hatch in zip(bars, picked, strict=True):
            if hatch:
                bar.set_hatch("///")
        handles.append(plt.Rectangle((0, 0), 1, 1, color=bars.patches[0].get_facecolor()))
        any_hatched = any_hatched or any(picked)
    ax.set_xticks(range(len(servers)), servers, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if log:
        ax.set_yscale("log")
    if hatched is None:
        ax.legend(fontsize=8, ncols=min(4, len(flavours)))
    else:
        # Plain colour patches (a hatched first bar must not hatch its legend entry).
        labels = list(flavours)
        if any_hatched:
            handles.append(plt.Rectangle((0, 0), 1, 1, facecolor="white", hatch="///"))
            labels.append("unstable")
        ax.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(axis="y", alpha=0.3)
    return _svg(fig)


def _run_spread(row: ThroughputRow) -> tuple[float, float]:
    runs = [float(v) for v in row.msgs_per_s_runs or []]
    median = float(row.msgs_per_s)
    if not runs:
        return 0.0, 0.0
    return max(0.0, median - min(runs)), max(0.0, max(runs) - median)


def _interval(value: float, found: Interval | None) -> tuple[float, float]:
    """Error bar lengths below and above ``value`` for its interval (none without one)."""
    if found is None:
        return 0.0, 0.0
    return max(0.0, value - found.low), max(0.0, found.high - value)


def _throughput_interval(row: ThroughputRow) -> tuple[float, float]:
    return _interval(float(row.msgs_per_s), intervals.throughput(row))


def _bars(rows: Sequence[ThroughputRow]) -> str:
    """What the error bars of a throughput plot of ``rows`` are."""
    return intervals.bars(intervals.throughput(r) for r in rows)


def throughput(data: dict[str, Any]) -> bytes | None:
    cell = headline_cell(unstacked(data, ThroughputRow))
    rows = headline_rows(data)
    if not cell or not rows:
        return None
    if any(r.series is not None for r in rows):
        return _grouped_bars(
            rows,
            lambda r: float(r.msgs_per_s),
            f"Echo throughput, {cell[0]}, {cell[1]} connections "
            f"(median, bars = {_bars(rows)}, hatched = unstable)",
            "messages per second",
            err=_throughput_interval,
            hatched=lambda r: r.unstable,
        )
    return _grouped_bars(
        rows,
        lambda r: float(r.msgs_per_s),
        f"Echo throughput, {cell[0]}, {cell[1]} connections (median, bars = run range)",
        "messages per second",
        err=_run_spread,
    )


def summary_flavours(data: dict[str, Any]) -> bytes | None:
    """Sync vs Async per server: the headline cell's msgs/s per flavour with their
    intervals (only for runs with intervals)."""
    cell = headline_cell(unstacked(data, ThroughputRow))
    rows = [r for r in headline_rows(data) if r.series is not None]
    if not cell or not rows:
        return None
    return _grouped_bars(
        rows,
        lambda r: float(r.msgs_per_s),
        f"Sync vs Async per server, {cell[0]}, {cell[1]} connections "
        f"(median, bars = {_bars(rows)}, hatched = unstable)",
        "messages per second",
        err=_throughput_interval,
        hatched=lambda r: r.unstable,
    )


def summary_ratios(data: dict[str, Any]) -> bytes | None:
    """Every ratio of the summary with its interval on a log axis, 1.0 marked:
    filled where a 95% CI is clear of 1.0, hollow where it is not or where the
    interval is only a range (only for ratios with intervals)."""
    groups = (
        ("Sync vs Async", sync_vs_async(data)),
        ("CPU per message", cost_sync_vs_async(data) + cost_server_vs_server(data)),
        ("server vs server", server_vs_server(data)),
        ("TLS vs plain", tls_vs_plain(data)),
    )
    ratios = [(group, r) for group, found in groups for r in found if r.ci]
    if not ratios:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(ratios) + 1.4))
    colours = {
        "Sync vs Async": "#1e88e5",
        "CPU per message": "#fb8c00",
        "server vs server": "#43a047",
        "TLS vs plain": "#8e24aa",
    }
    for y, (group, r) in enumerate(ratios):
        ax.errorbar(
            [r.value],
            [y],
            xerr=[[r.value - r.low], [r.high - r.value]],
            fmt="o",
            color=colours[group],
            markerfacecolor=colours[group] if r.clear else "white",
            capsize=3,
        )
    ax.axvline(1.0, color="#616161", linewidth=1, linestyle="--")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _position: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(
        range(len(ratios)),
        [f"{r.label}{' (unstable cells)' if r.unstable else ''}" for _, r in ratios],
        fontsize=7,
    )
    ax.invert_yaxis()
    kinds = {r.is_ci for _, r in ratios}
    named = "95% confidence intervals" if kinds == {True} else "intervals (95% CI, or range)"
    hollow = (
        "the 95% CI contains 1.0" if kinds == {True} else "the interval contains 1.0 or is a range"
    )
    ax.set_xlabel(f"ratio (log scale); hollow: {hollow}, no clear difference")
    ax.set_title(f"Ratios with their {named}")
    ax.grid(axis="x", alpha=0.3, which="both")
    present = [group for group in colours if any(found == group for found, _ in ratios)]
    handles = [plt.Line2D([], [], color=colours[g], marker="o", linestyle="") for g in present]
    ax.legend(handles, present, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _svg(fig)


def latency_percentiles(data: dict[str, Any]) -> bytes | None:
    rows = [r for r in headline_rows(data) if r.p50_ms is not None]
    if not rows:
        return None
    labels = [f"{r.server}\n{r.flavour}" for r in rows]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(rows) + 2), 3.8))
    for key, marker in (("p50_ms", "o"), ("p99_ms", "s"), ("p999_ms", "^")):
        ax.plot(
            range(len(rows)),
            [getattr(r, key) or float("nan") for r in rows],
            marker,
            label=key.removesuffix("_ms").replace("p999", "p99.9"),
        )
    ax.set_xticks(range(len(rows)), labels, rotation=60, ha="right", fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("round trip, ms")
    ax.set_title("Latency percentiles at the headline cell (closed loop)")
    ax.legend()
    ax.grid(alpha=0.3)
    return _svg(fig)


def _lines(
    rows: Sequence[R],
    series_of: Callable[[R], str],
    order: Callable[[R], float],
    x: Callable[[R], float],
    y: Callable[[R], float],
    labels: tuple[str, str, str],
    log: str,
) -> bytes | None:
    """One line per series (``series_of``), points ordered by ``order``;
    ``labels`` are (x label, y label, title); ``log`` names the log axes ("x", "y", "xy")."""
    if not rows:
        return None
    series: dict[str, list[R]] = defaultdict(list)
    for row in rows:
        series[series_of(row)].append(row)
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, points in sorted(series.items()):
        points.sort(key=order)
        ax.plot([x(p) for p in points], [y(p) for p in points], marker="o", label=label)
    if "x" in log:
        ax.set_xscale("log")
    if "y" in log:
        ax.set_yscale("log")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(labels[2])
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _svg(fig)


def latency_vs_load(data: dict[str, Any]) -> bytes | None:
    return _lines(
        unstacked(data, LatencyRow),
        lambda r: f"{r.server} {r.flavour}" + (f" {r.step}" if r.step else ""),
        lambda r: float(r.target_rate),
        lambda r: float(r.achieved_rate),
        lambda r: float(r.p99_ms or "nan"),
        (
            "achieved messages per second (open loop)",
            "p99 latency from intended send, ms",
            "Latency against load",
        ),
        log="y",
    )


def handshakes(data: dict[str, Any]) -> bytes | None:
    rows = unstacked(data, HandshakeRow)
    if any(r.series is not None for r in rows):
        # TLS rows get their own bars: "async TLS" next to "async".
        labelled = [replace(r, flavour=f"{r.flavour} TLS") if r.tls else r for r in rows]
        bars = intervals.bars(intervals.handshake(r) for r in rows)
        return _grouped_bars(
            labelled,
            lambda r: float(r.handshakes_per_s),
            f"Handshake rate (connect, accept, close; median, bars = {bars})",
            "handshakes per second",
            err=lambda r: _interval(float(r.handshakes_per_s), intervals.handshake(r)),
            hatched=lambda r: r.unstable,
        )
    return _grouped_bars(
        rows,
        lambda r: float(r.handshakes_per_s),
        "Handshake rate (connect, accept, close)",
        "handshakes per second",
    )


def memory(data: dict[str, Any]) -> bytes | None:
    rows = [r for r in unstacked(data, MemoryRow) if r.bytes_per_connection is not None]
    return _grouped_bars(
        rows,
        lambda r: float(r.bytes_per_connection or 0) / 1024,
        "Server memory per idle connection",
        "KiB per connection",
    )


def breakdown(data: dict[str, Any]) -> bytes | None:
    rows = unstacked(data, BreakdownRow)
    if not rows:
        return None
    servers = sorted({r.server for r in rows})
    layers: list[str] = []
    for row in rows:
        if row.layer not in layers:
            layers.append(row.layer)
    # One shared y axis: every panel has a row per layer (empty where not measured), and
    # only the first panel carries the layer names, so no label lies over another panel.
    fig, axes = plt.subplots(
        1,
        len(servers),
        figsize=(3.0 * len(servers) + 3.4, 3.6),
        squeeze=False,
        sharex=True,
        sharey=True,
    )
    for ax, server in zip(axes[0], servers, strict=True):
        cells = {r.layer: float(r.us_per_msg) for r in rows if r.server == server}
        ax.barh(range(len(layers)), [cells.get(layer, 0.0) for layer in layers], color="#5c6bc0")
        ax.set_xlabel("µs per message (server core)")
        ax.set_title(server)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(range(len(layers)), layers, fontsize=7)
    axes[0][0].invert_yaxis()
    fig.suptitle("Where the time goes, layer by layer")
    return _svg(fig)


def conformance_grid(data: dict[str, Any]) -> bytes | None:
    rows = [r for r in unstacked(data, ConformanceRow) if r.grade in SEVERITY]
    if not rows:
        return None
    servers = sorted({r.server for r in rows})
    cases = sorted({r.case for r in rows})
    # A case's cell shows the worst grade any flavour got on that server.
    worst: dict[tuple[str, str], str] = {}
    for row in rows:
        key = (row.case, row.server)
        if key not in worst or SEVERITY[row.grade] > SEVERITY[worst[key]]:
            worst[key] = row.grade
    index = {grade: i for i, grade in enumerate(GRADE_ORDER)}
    grid = [
        [
            float(index[worst[(case, server)]]) if (case, server) in worst else float("nan")
            for server in servers
        ]
        for case in cases
    ]
    fig, ax = plt.subplots(figsize=(0.9 * len(servers) + 5.5, 0.15 * len(cases) + 1.6))
    cmap = ListedColormap([GRADE_COLOURS[g] for g in GRADE_ORDER]).with_extremes(bad="white")
    ax.imshow(
        grid,
        aspect="auto",
        cmap=cmap,
        vmin=-0.5,
        vmax=len(GRADE_ORDER) - 0.5,
        interpolation="nearest",
    )
    ax.set_xticks(range(len(servers)), servers, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(cases)), [c.removeprefix("test_") for c in cases], fontsize=5)
    ax.set_xticks([x - 0.5 for x in range(1, len(servers))], minor=True)
    ax.grid(which="minor", axis="x", color="white", linewidth=2)
    ax.tick_params(which="minor", length=0)
    handles = [plt.Rectangle((0, 0), 1, 1, color=GRADE_COLOURS[g]) for g in GRADE_ORDER]
    ax.legend(handles, GRADE_ORDER, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7)
    ax.set_title("Conformance: worst grade over consumer flavours, per case and server")
    return _svg(fig)


def locust_throughput(data: dict[str, Any]) -> bytes | None:
    rows = [r for r in unstacked(data, LocustRow) if r.scenario == "echo" and r.step is None]
    return _grouped_bars(
        rows,
        lambda r: float(r.msgs_per_s),
        "Locust echo scenario (requests per second)",
        "messages per second",
    )


def fanout(data: dict[str, Any]) -> bytes | None:
    return _lines(
        unstacked(data, FanoutRow),
        lambda r: f"{r.server} {r.flavour} {r.layer}",
        lambda r: int(r.group_size),
        lambda r: int(r.group_size),
        lambda r: float(r.deliveries_per_s),
        ("group size (members)", "deliveries per second", "Fan-out through the channel layer"),
        log="x",
    )


def soak(data: dict[str, Any]) -> bytes | None:
    rows = unstacked(data, SoakSampleRow)
    if not rows:
        return None
    series: dict[str, list[SoakSampleRow]] = defaultdict(list)
    for row in rows:
        series[f"{row.server} {row.flavour}"].append(row)
    fig, (rss_ax, fds_ax) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    for label, points in sorted(series.items()):
        times = [float(p.t_s) for p in points]
        rss_ax.plot(times, [(p.rss_bytes or 0) / 2**20 for p in points], label=label)
        fds_ax.plot(times, [p.open_fds or 0 for p in points], label=label)
    rss_ax.set_ylabel("server RSS (MiB)")
    fds_ax.set_ylabel("open file descriptors")
    fds_ax.set_xlabel("seconds into the soak")
    rss_ax.set_title("Soak: server memory and descriptors under a steady mixed load")
    rss_ax.legend(fontsize=7)
    for ax in (rss_ax, fds_ax):
        ax.grid(alpha=0.3)
    return _svg(fig)


# The capacity panels: (y label, value of a curve point, y scale), against connections held.
_CAPACITY_PANELS: tuple[tuple[str, Callable[[CapacityPointRow], float | None], str], ...] = (
    ("server RSS (MiB)", lambda p: p.rss_bytes / 2**20 if p.rss_bytes else None, "linear"),
    ("KiB per connection", lambda p: (p.bytes_per_connection or 0) / 1024 or None, "linear"),
    ("canary echo p99 (ms)", lambda p: p.canary_p99_ms, "log"),
    ("server idle CPU (cores)", lambda p: p.server_idle_cpu, "linear"),
    ("server CPU per handshake (ms)", lambda p: p.server_cpu_ms_per_handshake, "linear"),
    ("ping to all: slowest (ms)", lambda p: p.ping_max_ms, "log"),
)


def capacity(data: dict[str, Any]) -> bytes | None:
    """One panel per curve of the capacity climb, one line per server."""
    rows = unstacked(data, CapacityPointRow)
    if not rows:
        return None
    series: dict[str, list[CapacityPointRow]] = defaultdict(list)
    for row in rows:
        series[f"{row.server} {row.layer}".strip()].append(row)
    fig, axes = plt.subplots(3, 2, figsize=(9, 8), sharex=True)
    for ax, (label, value, scale) in zip(axes.flat, _CAPACITY_PANELS, strict=True):
        for name, points in sorted(series.items()):
            shown = [(p.connections, value(p)) for p in sorted(points, key=lambda p: p.level)]
            xs = [x for x, y in shown if y is not None]
            ax.plot(xs, [y for _, y in shown if y is not None], marker="o", ms=3, label=name)
        ax.set_ylabel(label, fontsize=8)
        if scale == "log":
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("connections held")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Capacity: the server as idle connections grow")
    return _svg(fig)


def versions(data: dict[str, Any]) -> bytes | None:
    """Each stack's throughput over the first stack's, one bar per server and flavour
    (the ratios recomputed from the stored runs, :func:`~.stacks.against_first`)."""
    rows = [r for r in against_first(data) if r.ratio is not None]
    if not rows:
        return None
    stacks = list(dict.fromkeys(r.stack_label for r in rows))
    cells = sorted({(r.server, r.flavour) for r in rows}, key=lambda c: (c[0], _flavour_key(c[1])))
    found = {(r.stack_label, r.server, r.flavour): r for r in rows}
    width = 0.8 / len(cells)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(stacks) + 2), 4.0))
    for i, (server, flavour) in enumerate(cells):
        xs, heights, low, high = [], [], [], []
        for j, stack in enumerate(stacks):
            row = found.get((stack, server, flavour))
            if row is None or row.ratio is None:
                continue
            xs.append(j + (i - (len(cells) - 1) / 2) * width)
            heights.append(row.ratio)
            low.append(max(0.0, row.ratio - (row.ratio_low or row.ratio)))
            high.append(max(0.0, (row.ratio_high or row.ratio) - row.ratio))
        ax.bar(xs, heights, width, label=f"{server} {flavour}", yerr=[low, high], capsize=2)
    ax.axhline(1.0, color="black", linewidth=0.8)
    labels = [stack.replace(", ", "\n") for stack in stacks]
    ax.set_xticks(range(len(stacks)), labels, fontsize=7)
    ax.set_ylabel("msgs/s over the first stack's")
    kinds = {r.ratio_interval for r in rows if not r.first}
    bars = "95% CI" if kinds == {"95% CI"} else "range the runs allow"
    if len(kinds) > 1:
        bars = "95% CI, or range the runs allow"
    ax.set_title(f"Echo throughput of each stack over the first stack's (error bars: {bars})")
    ax.legend(fontsize=7, ncols=min(4, len(cells)))
    ax.grid(axis="y", alpha=0.3)
    return _svg(fig)


def _profile_key(row: ProfileRow) -> tuple[str, int, str]:
    order = ("bare-asgi", "async", "sync", *FLAVOUR_ORDER)
    rank = order.index(row.flavour) if row.flavour in order else len(order)
    return (row.server, rank, row.flavour)


def profile(data: dict[str, Any]) -> bytes | None:
    """One stacked bar per profiled server and flavour: the share of its samples in
    each group, in the colours of the flame graphs."""
    rows = sorted(rows_of(data, ProfileRow), key=_profile_key)
    if not rows:
        return None
    labels = [f"{r.server} {r.flavour}" for r in rows]
    fig, ax = plt.subplots(figsize=(7.0, 0.36 * len(rows) + 1.2))
    left = [0.0] * len(rows)
    for group in (*PROFILE_GROUPS, PROFILE_OTHER):
        shares = [100 * float(r.groups.get(group, 0.0)) for r in rows]
        ax.barh(labels, shares, left=left, color=PROFILE_COLOURS[group], label=group)
        left = [a + b for a, b in zip(left, shares, strict=True)]
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of the serving threads' samples (py-spy, separate runs of the echo cell)")
    ax.set_title("Where the time goes, per server and consumer flavour")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig)


PLOTS: dict[str, Callable[[dict[str, Any]], bytes | None]] = {
    "summary_flavours": summary_flavours,
    "summary_ratios": summary_ratios,
    "throughput": throughput,
    "latency_percentiles": latency_percentiles,
    "latency_vs_load": latency_vs_load,
    "handshake": handshakes,
    "memory": memory,
    "breakdown": breakdown,
    "conformance": conformance_grid,
    "locust": locust_throughput,
    "fanout": fanout,
    "soak": soak,
    "capacity": capacity,
    "versions": versions,
    "profile": profile,
}


def render_all(data: dict[str, Any]) -> dict[str, bytes]:
    """Every plot the data allows, by name (``throughput`` -> SVG bytes)."""
    out = {}
    for name, draw in PLOTS.items():
        svg = draw(data)
        if svg is not None:
            out[name] = svg
    return out
