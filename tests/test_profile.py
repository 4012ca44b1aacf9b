"""Where the time goes: py-spy's raw stacks read and attributed to groups, the
findings computed from rows, and one short real profile of uvicorn end to end
(rows, shares, flame graph, nothing left running)."""

from __future__ import annotations

import json
import subprocess
import sysconfig
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import psutil
import pytest

from channels_harness.errors import ProfilerError
from channels_harness.experiments.profile import groups, measure_profiles, sampler
from channels_harness.experiments.profile.attribution import findings
from channels_harness.experiments.profile.stacks import Frame, module_of, parse_raw
from channels_harness.report import markdown, plots
from channels_harness.report.model import Run
from channels_harness.report.rows import PROFILE_OTHER, ProfileFindingRow, ProfileRow
from channels_harness.runtime import procgroup

SCHEMA = Path(__file__).parent.parent / "channels_harness" / "report" / "schema.json"
SITE = "/venv/lib/python3.11/site-packages"
STDLIB = sysconfig.get_paths()["stdlib"]

# A worker process of a supervisor, its command line holding ';' and quotes.
CHILD = 'process 11:"python -c from multiprocessing.spawn import spawn_main; spawn_main(fd=5)"'
RAW = "\n".join(
    [
        # the supervisor's loop: never counted (no application code in that process)
        f'process 10:"python -m hypercorn app";thread (10): MainThread;'
        f"select ({STDLIB}/selectors.py) 50",
        # the worker's event loop, idle
        f'process 10:"python -m hypercorn app";{CHILD};thread (11): MainThread;'
        f"Runner.run ({STDLIB}/asyncio/runners.py) 20",
        # a stdlib helper inside the cleanup hop counts for the hop
        f'process 10:"python -m hypercorn app";{CHILD};thread (11): MainThread;'
        f"Runner.run ({STDLIB}/asyncio/runners.py);"
        f"AsyncConsumer.dispatch ({SITE}/channels/consumer.py);"
        f"aclose_old_connections ({SITE}/channels/db.py);"
        f"SyncToAsync.__call__ ({SITE}/asgiref/sync.py);"
        f"wrap_future ({STDLIB}/asyncio/futures.py);"
        f"isfuture ({STDLIB}/asyncio/base_futures.py) 10",
        # the executor thread running Django's cleanup counts for Django
        f'process 10:"python -m hypercorn app";{CHILD};thread (12): ThreadPoolExecutor-0_0;'
        f"_worker ({STDLIB}/concurrent/futures/thread.py);"
        f"SyncToAsync.thread_handler ({SITE}/asgiref/sync.py);"
        f"close_old_connections ({SITE}/django/db/__init__.py) 5",
        # ... and waiting for work is not counted
        f'process 10:"python -m hypercorn app";{CHILD};thread (12): ThreadPoolExecutor-0_0;'
        f"_worker ({STDLIB}/concurrent/futures/thread.py) 15",
        # a frame no rule knows stops the walk: not attributed
        f'process 10:"python -m hypercorn app";{CHILD};thread (11): MainThread;'
        f"Runner.run ({STDLIB}/asyncio/runners.py);"
        f"mystery ({SITE}/somelib/core.py) 5",
    ]
)


def test_raw_stacks_keep_the_innermost_process_even_when_its_command_holds_semicolons() -> None:
    samples = parse_raw(RAW)
    assert [s.pid for s in samples] == [10, 11, 11, 11, 11, 11]
    assert samples[1].thread == "11 MainThread"
    assert samples[2].leaf == Frame(
        "isfuture", f"{STDLIB}/asyncio/base_futures.py", "asyncio.base_futures"
    )
    assert sum(s.count for s in samples) == 105


def test_a_file_is_named_by_its_module() -> None:
    assert module_of(f"{SITE}/uvicorn/protocols/websockets/wsproto_impl.py") == (
        "uvicorn.protocols.websockets.wsproto_impl"
    )
    assert module_of(f"{SITE}/django/db/__init__.py") == "django.db"
    assert module_of(f"{STDLIB}/asyncio/base_events.py") == "asyncio.base_events"
    assert module_of("<frozen runpy>") == "runpy"


def test_a_stack_goes_to_the_first_claimed_frame_from_the_leaf() -> None:
    samples = parse_raw(RAW)
    assigned = [groups.assign(s.frames) for s in samples]
    assert assigned[1] == groups.LOOP
    assert assigned[2] == groups.HOPS
    assert assigned[3] == groups.DJANGO
    assert assigned[5] == PROFILE_OTHER


def test_only_the_serving_threads_count_and_a_parked_executor_does_not() -> None:
    samples = parse_raw(RAW)
    kept = groups.counted(samples)
    assert groups.serving_pids(samples) == {11}
    assert [s.count for s in kept] == [20, 10, 5, 5]


def test_the_findings_weigh_the_hop_against_what_the_flavour_adds_over_bare_asgi() -> None:
    def row(flavour: str, us: dict[str, float]) -> ProfileRow:
        return ProfileRow(
            server="uvicorn",
            flavour=flavour,
            groups={},
            attributed_share=1.0,
            flamegraph="",
            us_per_msg=us,
        )

    bare = row("bare-asgi", {groups.PROTOCOL: 30.0, groups.LOOP: 50.0})
    busy = {groups.PROTOCOL: 30.0, groups.CHANNELS: 15.0, groups.HOPS: 40.0, groups.DJANGO: 5.0}
    # the idle loop is left out of what a flavour adds
    found = findings([bare, row("async", busy | {groups.LOOP: 100.0})])
    assert len(found) == 1
    only = found[0]
    assert isinstance(only, ProfileFindingRow)
    assert (only.part_us_per_msg, only.extra_us_per_msg, only.share) == (45.0, 60.0, 0.75)
    assert "75%" in only.text
    assert findings([row("async", busy)]) == []


def test_sampling_a_process_that_is_not_python_fails_with_one_clear_line(tmp_path: Path) -> None:
    target = procgroup.spawn(["sleep", "30"])
    try:
        with pytest.raises(ProfilerError, match=f"py-spy could not sample pid {target.pid}"):
            sampler.record(target.pid, tmp_path / "out.txt", 1, 50)
    finally:
        procgroup.stop_group(target)
    assert not _py_spy_children()


def _py_spy_children() -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if Path(child.cmdline()[0]).name == "py-spy":
                found.append(child)
        except (psutil.Error, IndexError):
            continue
    return found


@pytest.mark.slow
def test_a_short_profile_of_uvicorn_async_attributes_its_samples_and_draws_them(
    tmp_path: Path,
) -> None:
    run = Run.create(tmp_path, kind="bench")
    steps: list[str] = []
    rows = measure_profiles(
        run,
        ["uvicorn"],
        flavours=("async",),
        seconds=2,
        progress=lambda description, done, total: steps.append(description),
    )
    assert not run.data["failures"], run.data["failures"]
    assert not _py_spy_children()
    [row] = rows
    assert row.samples >= 50
    assert sum(row.groups.values()) == pytest.approx(1.0, abs=0.01)
    assert row.attributed_share >= 0.9, row.groups
    # the per-message cleanup hop is there in an AsyncConsumer, whatever the machine
    assert row.groups[groups.HOPS] > 0.02, row.groups
    svg = run.path / row.flamegraph
    root = ET.fromstring(svg.read_bytes())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "aclose_old_connections" in svg.read_text()
    data = json.loads(run.data_file.read_text())
    jsonschema.validate(data, json.loads(SCHEMA.read_text()))
    report = markdown.render(data)
    assert f"[svg]({row.flamegraph})" in report
    assert plots.profile(data) is not None
    assert steps[0] == "profile uvicorn async"


def test_the_sampler_command_asks_py_spy_for_every_thread_and_child() -> None:
    argv = sampler.command(123, Path("/tmp/x.txt"), 2.4, 100)
    assert argv[0].endswith("py-spy") and Path(argv[0]).exists()
    for flag in ("--idle", "--threads", "--subprocesses", "--format"):
        assert flag in argv
    assert argv[argv.index("--duration") + 1] == "2"
    assert subprocess.run([argv[0], "--version"], capture_output=True, check=False).returncode == 0


def test_bench_takes_profile_as_an_option() -> None:
    from channels_harness.cli import build_parser

    args = build_parser().parse_args(["bench", "--quick", "--profile"])
    assert args.profile is True
    assert build_parser().parse_args(["bench"]).profile is False
