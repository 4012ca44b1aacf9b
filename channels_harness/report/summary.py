"""The verdict of a run, computed from its data alone.

Everything a reader sees first (Sync vs Async per server, server vs server,
TLS vs plain, the generator's headroom, each server's conformance
deviations, the noisy and unstable cells) is derived here, once, so
report.md, report.html, the console, the results index and ``report
--compare`` all say the same thing.

A ratio of rows measured in the same interleaved rounds (same ``series`` and
stack) is the median of the per-round ratios; rows measured apart (the stacks
of a versions run) give the ratio of their medians. Either comes with its
interval (:func:`channels_harness.runtime.confidence.ratio_interval`): a 95%
confidence interval where the runs allow one, else the range of the runs,
called so. An interval that contains 1.0 reads "no clear difference", and a
ratio with an unstable side says so. Rows from runs before intervals existed
keep their old reading: the ratio of the medians and the range the runs allow.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from channels_harness.report import intervals
from channels_harness.report.grades import DEVIATING_GRADES
from channels_harness.report.rows import (
    ConformanceFeatureRow,
    ConformanceRow,
    HandshakeRow,
    HeadroomRow,
    Row,
    ThroughputRow,
    rows_of,
    unstacked,
)
from channels_harness.runtime import confidence
from channels_harness.runtime.noise import Noise, worst

SYNC_ASYNC_PAIRS = (("sync", "async"), ("generic-sync", "generic-async"))

Data = Mapping[str, Any]


@dataclass(frozen=True)
class Ratio:
    """``numerator / denominator`` of two figures.

    With ``ci`` (rows with intervals): ``value`` and ``low``-``high`` are the
    ratio and its interval, ``kind`` ``95% CI`` or ``range`` (too few runs for
    a confidence interval, see :mod:`channels_harness.runtime.confidence`),
    ``paired`` when from per-round ratios of rounds really measured together,
    ``unstable`` when a side never settled, ``left_out`` the rounds where both
    sides measured nothing. The verdict rests on the ratio's own interval:
    paired rounds cancel the drift that kept a cell from settling, so an
    unstable side is marked, not a reason to say nothing. Without ``ci``
    (older rows): the ratio of the medians and the range the runs allow.
    """

    label: str
    value: float
    low: float
    high: float
    numerator: str
    denominator: str
    ci: bool = False
    paired: bool = False
    unstable: bool = False
    kind: str = "95% CI"
    left_out: int = 0

    @property
    def is_ci(self) -> bool:
        """Whether the interval is a 95% confidence interval."""
        return self.ci and self.kind == "95% CI"

    @property
    def clear(self) -> bool:
        """Whether a 95% CI lies on one side of 1.0 (a difference, either way); a
        range never makes a difference clear."""
        return self.is_ci and not self.low <= 1.0 <= self.high

    @property
    def verdict(self) -> str:
        """``no clear difference`` when the interval contains 1.0, ``too few runs
        for a 95% CI`` for a range that does not, "" for a clear difference."""
        if self.low <= 1.0 <= self.high:
            return "no clear difference"
        return "" if self.clear else "too few runs for a 95% CI"

    @property
    def marks(self) -> list[str]:
        """What the reader must know beyond the value: the verdict, unstable sides,
        rounds left out."""
        found = [self.verdict] if self.verdict else []
        if self.unstable:
            found.append("unstable cells")
        if self.left_out:
            found.append(f"{self.left_out} round(s) where both sides measured nothing left out")
        return found

    def text(self) -> str:
        if not self.ci:
            if abs(self.high - self.low) < 0.005:
                return f"{self.value:.2f}x"
            return f"{self.value:.2f}x ({self.low:.2f}-{self.high:.2f})"
        found = f"{self.value:.2f}x ({self.kind} {self.low:.2f}-{self.high:.2f})"
        return "; ".join([found, *self.marks])

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "label": self.label,
            "value": round(self.value, 3),
            "low": round(self.low, 3),
            "high": round(self.high, 3),
            "numerator": self.numerator,
            "denominator": self.denominator,
        }
        if self.ci:
            bounds = [round(self.low, 3), round(self.high, 3)]
            found.update(
                {"ci95" if self.is_ci else "range": bounds},
                paired=self.paired,
                unstable=self.unstable,
                verdict=self.verdict or "clear",
            )
        return found


@dataclass(frozen=True)
class Side:
    """One side of a ratio: a figure, its runs (one per round, in round order,
    zeros included), its series and stack, and whether it settled.

    ``rounds`` is None when the runs do not line up with the rounds of the
    series (some run left no figure), so they cannot be paired."""

    value: float
    runs: list[float]
    series: str | None
    unstable: bool
    name: str
    stack: tuple[tuple[str, str], ...] | None = None
    rounds: bool = True

    def pairs_with(self, other: Side) -> bool:
        """Whether run k of this side and run k of ``other`` were measured in the
        same interleaved round: the same series in the same run and stack (a
        versions run measures each stack in its own process, one after another),
        as many runs, each run in its round."""
        return (
            self.series is not None
            and (self.series, self.stack) == (other.series, other.stack)
            and self.rounds
            and other.rounds
            and len(self.runs) == len(other.runs)
        )

    @staticmethod
    def _stack(row: ThroughputRow | HandshakeRow) -> tuple[tuple[str, str], ...] | None:
        return tuple(sorted(row.stack.items())) if row.stack else None

    @classmethod
    def throughput(cls, row: ThroughputRow, name: str) -> Side:
        runs = [float(v) for v in row.msgs_per_s_runs or []]
        value = float(row.msgs_per_s)
        return cls(value, runs or [value], row.series, row.unstable, name, cls._stack(row))

    @classmethod
    def cpu(cls, row: ThroughputRow, name: str) -> Side | None:
        """The server's CPU per message of ``row`` (None when it was not measured);
        paired only when every run of the cell measured it."""
        if row.server_cpu_us_per_msg is None:
            return None
        runs = [float(v) for v in row.server_cpu_us_per_msg_runs]
        value = float(row.server_cpu_us_per_msg)
        aligned = len(runs) == len(row.msgs_per_s_runs or [])
        stack = cls._stack(row)
        return cls(value, runs or [value], row.series, row.unstable, name, stack, aligned)

    @classmethod
    def handshake(cls, row: HandshakeRow, name: str) -> Side:
        runs = [float(v) for v in row.handshakes_per_s_runs or []]
        value = float(row.handshakes_per_s)
        return cls(value, runs or [value], row.series, row.unstable, name, cls._stack(row))


def side_ratio(label: str, top: Side, bottom: Side) -> Ratio | None:
    """``top`` over ``bottom``: with an interval when both sides have a series and
    at least two runs (paired when :meth:`Side.pairs_with`, else unpaired), else
    the ratio of the medians and the extremes of their runs."""
    if top.series is not None and bottom.series is not None:
        paired = top.pairs_with(bottom)
        interval = confidence.ratio_interval(top.runs, bottom.runs, paired)
        if interval is not None:
            left_out = confidence.paired_ratios(top.runs, bottom.runs)[1] if paired else 0
            return Ratio(
                label=label,
                value=interval.value,
                low=interval.low,
                high=interval.high,
                numerator=top.name,
                denominator=bottom.name,
                ci=True,
                paired=paired,
                unstable=top.unstable or bottom.unstable,
                kind=interval.kind,
                left_out=left_out,
            )
    if not bottom.runs or min(bottom.runs) <= 0 or bottom.value <= 0:
        return None
    return Ratio(
        label=label,
        value=top.value / bottom.value,
        low=min(top.runs) / max(bottom.runs),
        high=max(top.runs) / min(bottom.runs),
        numerator=top.name,
        denominator=bottom.name,
    )


def ratio(label: str, top: ThroughputRow, bottom: ThroughputRow, key: str) -> Ratio | None:
    """The ratio of two throughput cells (see :func:`side_ratio`); ``key`` names
    the field that tells them apart (``flavour`` or ``server``)."""
    return side_ratio(
        label,
        Side.throughput(top, str(getattr(top, key, ""))),
        Side.throughput(bottom, str(getattr(bottom, key, ""))),
    )


def headline_cell(rows: list[ThroughputRow]) -> tuple[str, int] | None:
    """The (payload, concurrency) measured for the most server x flavour pairs:
    the cell every comparison in the summary uses."""
    counts: Counter[tuple[str, int]] = Counter()
    for row in rows:
        if row.scenario == "echo" and row.step is None and row.msgs_per_s and not row.tls:
            counts[(str(row.payload), int(row.concurrency or 0))] += 1
    if not counts:
        return None
    return max(counts, key=lambda cell: (counts[cell], cell[0] == "32B-text", cell[1]))


def headline_rows(data: Data) -> list[ThroughputRow]:
    """Plain (not TLS) throughput rows of the headline cell (generator-bound ones
    included)."""
    rows = unstacked(data, ThroughputRow)
    cell = headline_cell(rows)
    if cell is None:
        return []
    payload, concurrency = cell
    return [
        row
        for row in rows
        if str(row.payload) == payload
        and int(row.concurrency or 0) == concurrency
        and row.scenario == "echo"
        and row.step is None
        and row.msgs_per_s
        and not row.tls
    ]


def _flavours_by_server(data: Data) -> list[tuple[str, dict[str, ThroughputRow]]]:
    """The headline cell's rows, per server (sorted) and flavour."""
    by_server: dict[str, dict[str, ThroughputRow]] = defaultdict(dict)
    for row in headline_rows(data):
        by_server[row.server][row.flavour] = row
    return sorted(by_server.items())


def sync_vs_async(data: Data) -> list[Ratio]:
    """Per server: async msgs/s over sync msgs/s (and generic-async over generic-sync)."""
    ratios = []
    for server, flavours in _flavours_by_server(data):
        for sync, asynchronous in SYNC_ASYNC_PAIRS:
            if sync in flavours and asynchronous in flavours:
                label = f"{server}: {asynchronous} / {sync}"
                found = ratio(label, flavours[asynchronous], flavours[sync], "flavour")
                if found:
                    ratios.append(found)
    return ratios


def cost_sync_vs_async(data: Data) -> list[Ratio]:
    """Per server: the server's CPU per message of sync over async (and generic-sync
    over generic-async), how many times more a message costs; only for rows that
    measured it."""
    ratios = []
    for server, flavours in _flavours_by_server(data):
        for sync, asynchronous in SYNC_ASYNC_PAIRS:
            if sync in flavours and asynchronous in flavours:
                label = f"{server}: {sync} / {asynchronous} CPU per message"
                ratios.append(_cost(label, flavours[sync], flavours[asynchronous], "flavour"))
    return [found for found in ratios if found is not None]


def cost_server_vs_server(data: Data) -> list[Ratio]:
    """Per flavour: the costliest server's CPU per message over every other server's
    (how many times more a message costs there); only for rows that measured it."""
    by_flavour: dict[str, list[ThroughputRow]] = defaultdict(list)
    for row in headline_rows(data):
        if row.server_cpu_us_per_msg:
            by_flavour[row.flavour].append(row)
    ratios = []
    for flavour, rows in sorted(by_flavour.items()):
        costliest = max(rows, key=lambda r: float(r.server_cpu_us_per_msg or 0))
        for row in sorted(rows, key=lambda r: float(r.server_cpu_us_per_msg or 0)):
            if row is not costliest:
                label = f"{flavour}: {costliest.server} / {row.server} CPU per message"
                ratios.append(_cost(label, costliest, row, "server"))
    return [found for found in ratios if found is not None]


def _cost(label: str, top: ThroughputRow, bottom: ThroughputRow, key: str) -> Ratio | None:
    """The ratio of two cells' server CPU per message (None if one was not measured)."""
    upper = Side.cpu(top, str(getattr(top, key, "")))
    lower = Side.cpu(bottom, str(getattr(bottom, key, "")))
    return side_ratio(label, upper, lower) if upper and lower else None


def server_vs_server(data: Data) -> list[Ratio]:
    """Per flavour: every server's msgs/s over the slowest server's."""
    by_flavour: dict[str, list[ThroughputRow]] = defaultdict(list)
    for row in headline_rows(data):
        by_flavour[row.flavour].append(row)
    ratios = []
    for flavour, rows in sorted(by_flavour.items()):
        if len(rows) < 2:
            continue
        slowest = min(rows, key=lambda r: float(r.msgs_per_s))
        for row in sorted(rows, key=lambda r: -float(r.msgs_per_s)):
            if row is slowest:
                continue
            found = ratio(f"{flavour}: {row.server} / {slowest.server}", row, slowest, "server")
            if found:
                ratios.append(found)
    return ratios


def tls_vs_plain(data: Data) -> list[Ratio]:
    """Per TLS throughput cell and TLS handshake row: its figure over the same
    cell's over plain WebSocket, in data order."""
    found = []
    plain = {
        (r.server, r.flavour, r.concurrency, r.payload): r
        for r in unstacked(data, ThroughputRow)
        if not r.tls
    }
    for row in unstacked(data, ThroughputRow):
        other = plain.get((row.server, row.flavour, row.concurrency, row.payload))
        if row.tls and other is not None:
            label = f"{row.server} {row.flavour}: TLS / plain msgs/s"
            top, bottom = Side.throughput(row, "TLS"), Side.throughput(other, "plain")
            found.append(side_ratio(label, top, bottom))
    handshakes = {(r.server, r.flavour): r for r in unstacked(data, HandshakeRow) if not r.tls}
    for hrow in unstacked(data, HandshakeRow):
        other_handshake = handshakes.get((hrow.server, hrow.flavour))
        if hrow.tls and other_handshake is not None:
            label = f"{hrow.server} {hrow.flavour}: TLS / plain handshakes/s"
            top = Side.handshake(hrow, "TLS")
            found.append(side_ratio(label, top, Side.handshake(other_handshake, "plain")))
    return [r for r in found if r is not None]


def _cell_name(row: ThroughputRow | HandshakeRow) -> str:
    flavour = f"{row.flavour} TLS" if row.tls else row.flavour
    if isinstance(row, HandshakeRow):
        # A scenario file's handshakes are named after it (--message's are "app").
        named = row.scenario not in (None, "echo", "app")
        return f"{row.server} {flavour} handshakes" + (f" {row.scenario}" if named else "")
    what = f"{row.scenario}:{row.step}" if row.step else row.payload
    return f"{row.server} {flavour} c={row.concurrency} {what}"


def _measured(data: Data) -> list[ThroughputRow | HandshakeRow]:
    rows: list[ThroughputRow | HandshakeRow] = [*unstacked(data, ThroughputRow)]
    return rows + unstacked(data, HandshakeRow)


def unstable_cells(data: Data) -> list[str]:
    """The throughput and handshake cells whose interval never settled."""
    return [_cell_name(row) for row in _measured(data) if row.unstable]


@dataclass(frozen=True)
class NoiseTally:
    """How many cells recorded noise evidence, the noisy ones (each with the
    reasons of its worst run) and the worst figures over all of those."""

    recorded: int
    noisy: list[tuple[str, list[str]]]
    worst: Noise | None


def noise_tally(data: Data) -> NoiseTally:
    """The cells with noise evidence, which of them ran noisy, and how bad it got."""
    recorded = [(row, Noise.from_json(row.noise)) for row in _measured(data) if row.noise]
    noisy = [(row, found) for row, found in recorded if found.noisy]
    return NoiseTally(
        len(recorded),
        [(_cell_name(row), found.reasons()) for row, found in noisy],
        worst([found for _, found in noisy]),
    )


def fastest_cells(data: Data, count: int = 3) -> list[ThroughputRow]:
    """The fastest server-limited cells of the headline column."""
    rows = [row for row in headline_rows(data) if not row.generator_bound]
    return sorted(rows, key=lambda r: -float(r.msgs_per_s))[:count]


@dataclass(kw_only=True)
class Deviation(Row):
    """One case a server deviated on: the worst grade any flavour got, and which flavours."""

    SECTION: ClassVar[str] = ""
    server: str
    case: str
    clause: str
    grade: str
    observed: str
    flavours: str


def deviations(data: Data) -> dict[str, list[Deviation]]:
    """Per server, one row per case graded FAIL or NON-STRICT (FAIL where any flavour
    failed; the observation of the first flavour with that grade), in data order."""
    rows = unstacked(data, ConformanceRow)
    kept: dict[str, dict[str, ConformanceRow]] = defaultdict(dict)
    flavours: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in rows:
        if row.grade in DEVIATING_GRADES:
            flavours[(row.server, row.case)].add(str(row.flavour))
            first = kept[row.server].get(row.case)
            if first is None or (row.grade == "FAIL" and first.grade != "FAIL"):
                kept[row.server][row.case] = row
    return {
        server: [
            Deviation(
                server=server,
                case=row.case,
                clause=row.clause,
                grade=row.grade,
                observed=row.observed,
                flavours=", ".join(sorted(flavours[(server, row.case)])),
            )
            for row in cases.values()
        ]
        for server, cases in sorted(kept.items())
    }


@dataclass(kw_only=True)
class FeatureLine(Row):
    """One line of the feature table: a feature and what each server showed of it."""

    SECTION: ClassVar[str] = ""
    feature: str
    values: dict[str, str]


def feature_lines(data: Data) -> tuple[list[str], list[FeatureLine]]:
    """The servers of the conformance feature table, and one line per feature."""
    rows = rows_of(data, ConformanceFeatureRow)
    servers = list(dict.fromkeys(row.server for row in rows))
    by_feature: dict[str, dict[str, str]] = {}
    for row in rows:
        by_feature.setdefault(row.feature, {})[row.server] = row.value
    return servers, [FeatureLine(feature=f, values=v) for f, v in by_feature.items()]


def grade_counts(data: Data) -> dict[str, Counter[str]]:
    """Per server, how many conformance rows got each grade."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for row in unstacked(data, ConformanceRow):
        counts[row.server][row.grade or "?"] += 1
    return dict(sorted(counts.items()))


def headroom(data: Data) -> HeadroomRow | None:
    """The run's last headroom measurement, if any."""
    rows = unstacked(data, HeadroomRow)
    return rows[-1] if rows else None


def headline(data: Data) -> dict[str, Any]:
    """The handful of figures the results index shows for a run."""
    cell = headline_cell(unstacked(data, ThroughputRow))
    fastest = fastest_cells(data, 1)
    room = headroom(data)
    return {
        "cell": {"payload": cell[0], "concurrency": cell[1]} if cell else None,
        "fastest": (
            {
                "server": fastest[0].server,
                "flavour": fastest[0].flavour,
                "msgs_per_s": fastest[0].msgs_per_s,
            }
            if fastest
            else None
        ),
        "sync_vs_async": [r.as_dict() for r in sync_vs_async(data)],
        "headroom_ratio": intervals.headroom_figure(room)[0] if room else None,
        "deviations": {server: len(rows) for server, rows in deviations(data).items()},
    }
