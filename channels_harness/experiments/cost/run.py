"""``bench --cost``: what a message costs each server, counted under valgrind.

Per server the app is started once under callgrind
(:class:`~channels_harness.experiments.cost.valgrind.Meter`) with
``PYTHONHASHSEED=0``, pinned to the server's core. Then per flavour (the
reference app's echo endpoints) or once (``--app``, ``--scenario-file``), one
connection (:mod:`.phases`): ``warmup`` messages, not counted; a phase of
``messages``, counted; a phase of twice as many, counted. The figures are
the difference of the two phases divided by ``messages``: what any phase costs
whatever its length (the counters' zero and dump, the first message's code
paths) cancels out. One :class:`~channels_harness.report.rows.CostRow` per
server and flavour; a server valgrind cannot start, or a phase that fails,
gives a row whose ``error`` says why (and a failed cell).

Under callgrind the server's threads run one at a time on one core and about
:data:`~channels_harness.experiments.cost.phases.SLOWDOWN` times slower, which
is why this measures cost, never speed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from channels_harness.errors import RunError, TargetError, UsageError
from channels_harness.experiments.cost.phases import Connection, echo_scenario, slowed
from channels_harness.experiments.cost.valgrind import Counts, Meter, Tools, find_tools
from channels_harness.experiments.target import Target
from channels_harness.protocol.conversation import Conversation
from channels_harness.protocol.scenario import Scenario
from channels_harness.protocol.scenario_traffic import MessageConversation, messages_scenario
from channels_harness.protocol.traffic import Traffic
from channels_harness.report.model import Run
from channels_harness.report.rows import CostRow
from channels_harness.runtime import pinning
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.reference import FLAVOURS, echo_path
from channels_harness.servers.registry import FOCUS_SERVERS

Progress = Callable[[str, int, int], None]

# How long a server may take to answer under valgrind (Django's imports, translated).
STARTUP_TIMEOUT_S = 300.0
# Syscall names kept per row (the commonest).
SYSCALL_NAMES_KEPT = 8


@dataclass(frozen=True)
class CostPlan:
    """Which servers and flavours, and how many messages: ``warmup`` uncounted, then
    phases of ``messages`` and twice as many."""

    servers: tuple[str, ...] = FOCUS_SERVERS
    flavours: tuple[str, ...] = FLAVOURS
    warmup: int = 50
    messages: int = 300

    def describe(self) -> dict[str, Any]:
        return {
            "servers": list(self.servers),
            "flavours": list(self.flavours),
            "warmup": self.warmup,
            "messages": self.messages,
        }


# bench --cost: a server of each family (the uvicorn --ws variants left out), every flavour.
DEFAULT = CostPlan(servers=("daphne", "uvicorn", "hypercorn", "granian"))
# A short plan, for `all --quick` and tests: the pair that shows the thread hop.
QUICK = CostPlan(flavours=("sync", "async"), warmup=30, messages=100)


@dataclass(frozen=True)
class Case:
    """One connection's worth of cost: the flavour (or path) it names, where it goes,
    what it runs."""

    flavour: str
    path: str
    scenario: Scenario
    messages: bool = False

    @property
    def unit(self) -> str:
        return "message" if self.scenario.name in ("echo", "app") else "step"

    def rounded(self, count: int) -> int:
        """``count`` rounded up to whole rounds of the scenario's steps."""
        size = len(self.scenario.steps)
        return -(-count // size) * size

    def talk(self, scenario: Scenario) -> Conversation:
        cls = MessageConversation if self.messages else Conversation
        return cls(scenario, conn=0)


def cases(target: Target, flavours: tuple[str, ...]) -> list[Case]:
    """What each server is measured with: the reference echo per flavour, or the
    target's messages or scenario on its path."""
    if not target.own:
        return [Case(f, "/" + echo_path(f), echo_scenario()) for f in flavours]
    path = target.path or (target.scenario.path if target.scenario else "/")
    if target.scenario is not None:
        return [Case(target.label, path, target.scenario)]
    if target.traffic.echo:
        return [Case(target.label, path, echo_scenario())]
    return [Case(target.label, path, messages_scenario(target.traffic), messages=True)]


def run_cost(
    run: Run, target: Target, plan: CostPlan, progress: Progress | None = None
) -> list[CostRow]:
    """Count every server x case of ``plan`` into ``run``; the rows added.
    ValgrindMissingError (exit 2) before anything starts without valgrind;
    UsageError for ``--url`` (the meter must start the server)."""
    tools = find_tools()
    if target.url is not None:
        raise UsageError("--cost starts each server under valgrind: give --app, not --url")
    measured = cases(target, plan.flavours)
    total = len(plan.servers) * len(measured)
    rows: list[CostRow] = []
    for name in plan.servers:
        done = len(rows)

        def say(text: str, offset: int = 0, server: str = name, start: int = done) -> None:
            if progress is not None:
                progress(f"cost {server}: {text}", start + offset, total)

        found = _measure_server(run, tools, target, name, measured, plan, say)
        run.extend(found)
        rows += found
    if progress is not None:
        progress("cost done", total, total)
    return rows


def _measure_server(
    run: Run,
    tools: Tools,
    target: Target,
    name: str,
    measured: list[Case],
    plan: CostPlan,
    say: Callable[..., None],
) -> list[CostRow]:
    """Start ``name`` under valgrind once and count each case on it."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="channels-harness-cost-") as folder:
        meter = Meter(tools, Path(folder))
        server = target.server(
            name,
            wrapper=meter.wrapper(),
            env={"PYTHONHASHSEED": "0"},
            startup_timeout=STARTUP_TIMEOUT_S,
            cpus=pinning.choose().server,
        )
        say("starting under valgrind")
        try:
            server.start()
        except RunError as exc:
            reason = f"valgrind could not run {name}: {_first_line(exc)}"
            return [_failed(run, name, case, plan, reason, meter.log_tail()) for case in measured]
        try:
            run.record_server({**server.info(), "cost": tools.version})
            traffic = target.prepare(server, round_trip=False)
            for index, case in enumerate(measured):
                say(f"{case.flavour}", index)
                try:
                    rows.append(_measure_case(meter, server, traffic, name, case, plan, tools))
                except (RunError, TargetError) as exc:
                    tail = meter.log_tail() or server.log_tail()
                    rows.append(_failed(run, name, case, plan, _first_line(exc), tail))
        finally:
            server.stop()
    return rows


def _measure_case(
    meter: Meter,
    server: ServerProcess,
    traffic: Traffic,
    name: str,
    case: Case,
    plan: CostPlan,
    tools: Tools,
) -> CostRow:
    """Warm up one connection, count two phases, and make the row."""
    messages = case.rounded(plan.messages)
    url = server.ws_url(case.path.replace("{conn}", "0"))
    warmup = case.rounded(plan.warmup)
    meter.instrument(_pids(meter, server))
    with Connection(url, traffic, case.talk(slowed(case.scenario))) as connection:
        connection.run(warmup)
        phases = []
        for count in (messages, 2 * messages):
            pids = _pids(meter, server)
            meter.zero(pids)
            connection.run(count)
            phases.append(meter.dump(pids))
    return cost_row(name, case, warmup, messages, phases, tools, len(pids))


def _pids(meter: Meter, server: ServerProcess) -> list[int]:
    """The server's live processes that valgrind traces."""
    traced = set(meter.traced())
    return [process.pid for process in server.processes() if process.pid in traced]


def cost_row(
    server: str,
    case: Case,
    warmup: int,
    messages: int,
    phases: list[Counts],
    tools: Tools,
    processes: int,
) -> CostRow:
    """The row of two phases (``messages`` and twice as many): their difference per message."""
    first, second = phases
    per_instructions = (second.instructions - first.instructions) / messages
    by_name = {
        name: (second.syscalls[name] - first.syscalls[name]) / messages
        for name in second.syscalls | first.syscalls
    }
    kept = sorted(by_name.items(), key=lambda item: -item[1])[:SYSCALL_NAMES_KEPT]
    fixed = first.instructions - per_instructions * messages
    return CostRow(
        server=server,
        flavour=case.flavour,
        scenario=case.scenario.name,
        unit=case.unit,
        instructions_per_msg=round(per_instructions, 1),
        syscalls_per_msg=round((second.kernel_calls - first.kernel_calls) / messages, 2),
        vdso_calls_per_msg=round((second.vdso_calls - first.vdso_calls) / messages, 2),
        syscalls_by_name={name: round(value, 2) for name, value in kept},
        messages=messages,
        warmup=warmup,
        phase_instructions=[first.instructions, second.instructions],
        phase_syscalls=[first.kernel_calls, second.kernel_calls],
        fixed_share=round(fixed / first.instructions, 4) if first.instructions else None,
        processes=processes,
        method=method(tools, warmup, messages, case.unit),
    )


def method(tools: Tools, warmup: int, messages: int, unit: str) -> str:
    """How a row was counted, in a line."""
    return (
        f"{tools.version} callgrind, PYTHONHASHSEED=0, one connection: {warmup} {unit}s of "
        f"warm-up, then phases of {messages} and {2 * messages}; their difference / {messages}"
    )


def _failed(
    run: Run, server: str, case: Case, plan: CostPlan, reason: str, log_tail: str
) -> CostRow:
    """The row of a case that could not be counted, and its failed cell."""
    run.fail("cost", {"server": server, "flavour": case.flavour}, reason, log_tail)
    return CostRow(
        server=server,
        flavour=case.flavour,
        scenario=case.scenario.name,
        unit=case.unit,
        messages=plan.messages,
        warmup=plan.warmup,
        error=reason,
    )


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
