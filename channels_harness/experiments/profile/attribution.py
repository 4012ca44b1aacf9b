"""From sampled stacks to a :class:`ProfileRow`, and from rows to the answers.

:func:`tally` counts the samples the shares are of (:func:`.groups.counted`)
by the group each is assigned to (:func:`.groups.assign`). A group's share is
its count over all counted samples; its thread time per message is its count
over the sampling instants (the event loop's thread is sampled at every
instant, idle or not) times the wall time per message, so it adds the time of
every serving thread. :func:`findings` answers the layer breakdown's open
questions from the rows of one server: how much of what a consumer flavour
adds over the bare ASGI app, in busy thread time per message (every group but
the idle loop), is the hop to the executor thread.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from channels_harness.errors import ProfilerError
from channels_harness.experiments.profile.groups import (
    DJANGO,
    GROUPS,
    HOPS,
    LOOP,
    OTHER,
    assign,
    counted,
)
from channels_harness.experiments.profile.stacks import Sample
from channels_harness.report.rows import ProfileFindingRow, ProfileRow

BARE = "bare-asgi"

# (flavour, the groups that make up the part, what the part is)
QUESTIONS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "async",
        (HOPS, DJANGO),
        "the per-message database-connection cleanup hop (AsyncConsumer.dispatch awaits "
        "aclose_old_connections: sync_to_async to the shared executor thread and Django's "
        "close_old_connections there)",
    ),
    (
        "sync",
        (HOPS,),
        "the hops to and from the single shared executor thread (SyncToAsync for each "
        "handler, AsyncToSync for each send, and waking the threads)",
    ),
)


def tally(samples: list[Sample]) -> tuple[Counter[str], int]:
    """Counted samples by group, and the number of sampling instants (the most
    samples any one thread has)."""
    groups: Counter[str] = Counter()
    for sample in counted(samples):
        groups[assign(sample.frames)] += sample.count
    per_thread: Counter[tuple[int, str]] = Counter()
    for sample in samples:
        per_thread[(sample.pid, sample.thread)] += sample.count
    return groups, max(per_thread.values(), default=0)


def profile_row(
    server: str,
    flavour: str,
    app: str,
    samples: list[Sample],
    msgs_per_s: float,
    **measured: float | int | str | None,
) -> ProfileRow:
    """The row of one profiled cell; ``measured`` fills the row's remaining fields
    (flamegraph, rate_hz, duration_s, server_cpu_us_per_msg).
    :class:`ProfilerError` if no serving thread was sampled."""
    groups, instants = tally(samples)
    total = sum(groups.values())
    if total == 0 or instants == 0 or msgs_per_s <= 0:
        raise ProfilerError(
            f"{server} {flavour}: no sample of a serving thread under load "
            f"({sum(s.count for s in samples)} samples in all, {msgs_per_s:.0f} msgs/s)"
        )
    names = (*GROUPS, OTHER)
    return ProfileRow(
        server=server,
        flavour=flavour,
        app=app,
        groups={name: round(groups[name] / total, 4) for name in names},
        attributed_share=round(1 - groups[OTHER] / total, 4),
        us_per_msg={name: round(groups[name] / instants * 1e6 / msgs_per_s, 2) for name in names},
        samples=total,
        samples_seen=sum(s.count for s in samples),
        msgs_per_s=round(msgs_per_s, 1),
        **measured,  # type: ignore[arg-type]
    )


def busy_us(row: ProfileRow) -> float:
    """Thread time per message in every group but the idle loop."""
    return sum(us for name, us in row.us_per_msg.items() if name != LOOP)


def findings(rows: Sequence[ProfileRow]) -> list[ProfileFindingRow]:
    """For every server profiled with the bare ASGI app and a flavour of
    :data:`QUESTIONS`: that flavour's part, against what it adds over bare."""
    cells = {(row.server, row.flavour): row for row in rows}
    out = []
    for server in dict.fromkeys(row.server for row in rows):
        bare = cells.get((server, BARE))
        for flavour, parts, what in QUESTIONS:
            row = cells.get((server, flavour))
            if bare is None or row is None:
                continue
            part = sum(row.us_per_msg.get(name, 0.0) for name in parts)
            extra = busy_us(row) - busy_us(bare)
            share = part / extra if extra > 0 else None
            of = f"{share:.0%} of the" if share is not None else "against the"
            out.append(
                ProfileFindingRow(
                    server=server,
                    flavour=flavour,
                    part=what,
                    part_us_per_msg=round(part, 1),
                    extra_us_per_msg=round(extra, 1),
                    share=None if share is None else round(share, 3),
                    text=f"{server} {flavour}: {what} takes {part:.0f} µs of thread time per "
                    f"message, {of} {extra:.0f} µs the flavour adds over the bare ASGI app",
                )
            )
    return out
