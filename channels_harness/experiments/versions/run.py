"""A ``versions`` run: every stack's environment, then its measurements, into one run.

:func:`prepare` builds (or finds cached) every environment first, so a release
that does not install stops the run before a results folder exists.
:func:`run_versions` then measures each stack in turn (conformance, then the
bench, then the cost per message under valgrind), adds the rows tagged with
their stack, and ends with the comparison rows of each stack against the first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from channels_harness.experiments.versions.changes import compare
from channels_harness.experiments.versions.envs import Builder, Env
from channels_harness.experiments.versions.measure import measure
from channels_harness.experiments.versions.plan import VersionsPlan
from channels_harness.report.model import Run

Progress = Callable[[str, int, int], None]
MEASUREMENTS = ("conformance", "bench", "cost")
CONFORMANCE_EXIT_1 = (
    " (some case does not behave as conformance/deviations.toml records for the pinned versions)"
)


def prepare(plan: VersionsPlan, say: Callable[[str], None] | None = None) -> list[Env]:
    """Every stack's environment, in the plan's order (a UsageError when one does not install)."""
    builder = Builder(plan.cache, plan.installer, say)
    return [builder.get(stack) for stack in plan.stacks]


def _args_for(plan: VersionsPlan, command: str) -> Callable[[Path], list[str]]:
    return {
        "conformance": plan.conformance_args,
        "bench": plan.bench_args,
        "cost": plan.cost_args,
    }[command]


def measure_stack(run: Run, plan: VersionsPlan, env: Env) -> Callable[[str], str]:
    """A function that runs one measurement of ``env``'s stack into ``run`` and
    returns a one-line account of it."""

    def one(command: str) -> str:
        measured = measure(env, command, _args_for(plan, command))
        run.extend(measured.rows)
        if command == "bench" and "pinning" not in run.data["options"]:
            run.data["options"]["pinning"] = measured.options.get("pinning") or {}
            run.save()
        rows = sum(row.SECTION != "failures" for row in measured.rows)
        why = CONFORMANCE_EXIT_1 if command == "conformance" and measured.code == 1 else ""
        return (
            f"{env.stack.label}: {command} exited {measured.code}{why} after "
            f"{measured.seconds:.0f} s with {rows} rows"
        )

    return one


def run_versions(
    run: Run, plan: VersionsPlan, envs: list[Env], progress: Progress | None = None
) -> None:
    """Measure every stack of ``plan`` in its environment (from :func:`prepare`) into ``run``."""
    run.data["options"]["versions"] = plan.describe()
    run.data["options"]["stacks"] = [
        {
            "label": env.stack.label,
            "pins": [pin.requirement for pin in env.stack.pins],
            "installer": env.installer,
        }
        for env in envs
    ]
    run.save()
    total = len(envs) * len(MEASUREMENTS)
    done = 0
    for env in envs:
        one = measure_stack(run, plan, env)
        for command in MEASUREMENTS:
            if progress is not None:
                progress(f"{env.stack.label}: {command}", done, total)
            run.note(one(command))
            done += 1
    if progress is not None:
        progress("comparing the stacks", done, total)
    run.extend(compare(run.data, [(env.stack.label, env.versions) for env in envs]))
