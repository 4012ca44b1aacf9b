"""Your own load in every cell: a scenario file, or your own locustfile.

Either way a cell gives one ``locust`` row per request name locust counted
(``step`` = the name, ``request_type`` = its type), each with its own rate,
latency, failures and errors; what the cell shares (handshakes, CPU, pinning,
frames no request waited for) is repeated on each. For a scenario file the
rows come in the file's order: the measured steps (a step with ``latency_from``
shows its push latency, ``WS-PUSH``, with the failures of its waits), the
connect steps (``WS-CONNECT-STEP``), then the handshake (``WS-CONNECT``,
named after the scenario). A measured step that never ended in the run, well or
badly, still gets its row (no requests) and is named by :func:`missing_steps`.
Frames no request was waiting for (``WS-OTHER``) are not rows: they are each
row's ``other_frames``, by kind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from channels_harness.experiments.load.locustproc import Locustfile, LocustResult
from channels_harness.experiments.load.locuststats import summarize
from channels_harness.generators.locust_types import (
    CLOSE,
    CONNECT_STEP,
    HANDSHAKE,
    MESSAGE,
    OTHER,
    PUSH,
)
from channels_harness.protocol.scenario import Scenario
from channels_harness.report.rows import LocustRow
from channels_harness.runtime.paths import LOCUSTFILES_DIR

if TYPE_CHECKING:
    pass

# Where each request type's rows come in a cell: the measured steps (in the scenario's
# order), types of your own, then the connection's.
_TYPE_ORDER = {MESSAGE: 0, PUSH: 0, CONNECT_STEP: 2, HANDSHAKE: 3, CLOSE: 4}
_OTHER_TYPES = 1
# Below this many seconds with requests, a name's rate is its count over the run.
_STEADY_SECONDS = 3


@dataclass(frozen=True)
class CustomLoad:
    """What locust runs in each cell, and how its rows are named: ``name`` (the rows'
    ``scenario``), ``flavour`` (what was loaded: the path, or the user classes)."""

    name: str
    flavour: str
    locustfile: Locustfile
    options: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()
    connect_steps: tuple[str, ...] = ()
    push_steps: frozenset[str] = frozenset()

    def describe(self) -> dict[str, Any]:
        """What a run's options record about it."""
        return {
            "locustfile": str(self.locustfile.path),
            "user_classes": list(self.locustfile.user_classes),
            "steps": list(self.steps),
        }


def scenario_load(scenario: Scenario, path: Path, flavour: str | None = None) -> CustomLoad:
    """The bundled ``ScenarioUser`` running the scenario file at ``path`` (the rows'
    flavour: ``flavour``, default the scenario's path)."""
    return CustomLoad(
        name=scenario.name,
        flavour=flavour or scenario.path,
        locustfile=Locustfile(LOCUSTFILES_DIR / "scenario.py", ("ScenarioUser",)),
        options=(f"--ws-scenario-file={path.resolve()}",),
        steps=tuple(scenario.step_names),
        connect_steps=tuple(dict.fromkeys(step.name for step in scenario.connect)),
        push_steps=frozenset(s.name for s in scenario.steps if s.latency_from is not None),
    )


def locustfile_load(locustfile: Locustfile) -> CustomLoad:
    """Your locustfile (checked by :func:`~.locustproc.check_locustfile`): rows named
    after its file, flavour its user classes (``all`` when none was chosen)."""
    classes = ",".join(locustfile.user_classes) or "all"
    return CustomLoad(name=locustfile.path.stem, flavour=classes, locustfile=locustfile)


def _groups(entries: Iterable[dict[str, Any]], push_steps: frozenset[str]) -> dict[Any, list[Any]]:
    """Entries by (type, name); a push step's waits (``WS``) go with its ``WS-PUSH`` entry."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    entries = [e for e in entries if e["method"] != OTHER]
    pushed = {e["name"] for e in entries if e["method"] == PUSH}
    for entry in entries:
        kind, name = entry["method"], entry["name"]
        if kind == MESSAGE and name in push_steps and name in pushed:
            kind = PUSH
        groups.setdefault((kind, name), []).append(entry)
    return groups


def _order(custom: CustomLoad, key: tuple[str, str]) -> tuple[int, int, str]:
    kind, name = key
    listed = (*custom.steps, *custom.connect_steps)
    place = listed.index(name) if name in listed else len(listed)
    return _TYPE_ORDER.get(kind, _OTHER_TYPES), place, name


def step_rows(result: LocustResult, custom: CustomLoad, cell: LocustRow) -> list[LocustRow]:
    """One row per request name of ``result`` (see the module doc), each a copy of
    ``cell`` (the cell's shared facts) with that name's figures."""
    other = {e["name"]: int(e["num_requests"]) for e in result.entries if e["method"] == OTHER}
    groups = _groups(result.entries, custom.push_steps)
    for name in custom.steps:
        if not any(key[1] == name and key[0] in (MESSAGE, PUSH) for key in groups):
            groups[(PUSH if name in custom.push_steps else MESSAGE, name)] = []
    rows = []
    for key in sorted(groups, key=lambda key: _order(custom, key)):
        rows.append(_row(cell, key, groups[key], result.errors, other))
    return rows


def _row(
    cell: LocustRow,
    key: tuple[str, str],
    entries: list[dict[str, Any]],
    errors: list[dict[str, Any]],
    other: dict[str, int],
) -> LocustRow:
    kind, name = key
    main = next((e for e in entries if e["method"] == kind), None)
    figures = summarize(main) if main is not None else None
    methods = {e["method"] for e in entries}
    rate = figures.per_s if figures else 0.0
    if main is not None and figures and len(main.get("num_reqs_per_sec", {})) < _STEADY_SECONDS:
        # Requests that came in a burst (connections opening): their rate over the run.
        rate = figures.requests / float(cell.duration_s or 1)
    return dataclasses.replace(
        cell,
        step=name,
        request_type=kind,
        requests=figures.requests if figures else 0,
        failures=sum(int(e["num_failures"]) for e in entries),
        msgs_per_s=round(rate, 1),
        avg_ms=round(figures.avg_ms, 3) if figures else None,
        p50_ms=figures.p50_ms if figures else None,
        p95_ms=figures.p95_ms if figures else None,
        p99_ms=figures.p99_ms if figures else None,
        errors=[e for e in errors if e["name"] == name and e["method"] in methods],
        other_frames=dict(other) or None,
    )


def missing_steps(rows: Iterable[LocustRow], custom: CustomLoad) -> list[str]:
    """The measured steps of ``custom`` no request of which ended in the cell."""
    ended = {row.step for row in rows if row.requests or row.failures}
    return [name for name in custom.steps if name not in ended]
