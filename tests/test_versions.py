"""``channels-harness versions``: stacks from --with, environments built and cached,
the conformance suite and the bench run in each, one run comparing them.

The end-to-end test builds two real environments (uvicorn 0.54.0 and 0.49.0, the
release before ``--ws auto`` moved to websockets' sans-I/O protocol) with uv and
runs the quick measurements of uvicorn's async flavour in each: about 3 minutes on
a 2-core machine (more when other jobs load it), most of it the two quick
benches; with uv's download cache warm an environment builds in about 10 seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import _spawn
import pytest

from channels_harness.errors import UsageError
from channels_harness.experiments.conformance import keepalive
from channels_harness.experiments.versions import envs
from channels_harness.experiments.versions.changes import compare
from channels_harness.experiments.versions.envs import Builder, constraints, install_reason
from channels_harness.experiments.versions.matrix import Pin, Stack, parse_with, stacks
from channels_harness.report import markdown, plots, schema
from channels_harness.report.rows import (
    ConformanceRow,
    ThroughputRow,
    VersionChangeRow,
    VersionRow,
    rows_of,
)
from channels_harness.runtime.timeouts import scaled

HARNESS = [sys.executable, "-m", "channels_harness"]


def harness(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return _spawn.run(
        [*HARNESS, *args], timeout=scaled(timeout), env={**os.environ, "COLUMNS": "400"}
    )


@pytest.fixture(scope="session")
def env_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One environment cache for the test session (uv's download cache is the user's)."""
    return tmp_path_factory.mktemp("envs")


# -- the matrix ------------------------------------------------------------------


def test_with_options_group_by_distribution_in_the_order_given() -> None:
    groups = parse_with(
        ["channels==4.1.0", "Channels==4.3.2", "uvicorn == 0.49.0", "channels==4.1.0"]
    )
    assert groups == {"channels": ["4.1.0", "4.3.2"], "uvicorn": ["0.49.0"]}


@pytest.mark.parametrize("spec", ["channels", "channels>=4.1", "channels==4.*", "==4.1.0"])
def test_a_with_option_that_is_not_one_exact_release_is_refused(spec: str) -> None:
    with pytest.raises(UsageError, match="NAME==VERSION"):
        parse_with([spec])


def test_product_measures_every_combination_and_each_one_change_at_a_time() -> None:
    groups = {"channels": ["4.1.0", "4.3.2"], "daphne": ["4.2.1", "4.2.3"], "uvicorn": ["0.49.0"]}
    product = stacks(groups, "product")
    assert [s.label for s in product] == [  # a release every stack shares is left out
        "channels 4.1.0, daphne 4.2.1",
        "channels 4.1.0, daphne 4.2.3",
        "channels 4.3.2, daphne 4.2.1",
        "channels 4.3.2, daphne 4.2.3",
    ]
    assert all(Pin("uvicorn", "0.49.0") in s.pins for s in product)
    each = [s.label for s in stacks(groups, "each")]
    assert each == [
        "channels 4.1.0, daphne 4.2.1",
        "channels 4.3.2, daphne 4.2.1",
        "channels 4.1.0, daphne 4.2.3",
    ]
    assert [s.label for s in stacks({"channels": ["4.2.2"]})] == ["channels 4.2.2"]


def test_a_stack_overrides_the_harness_requirement_and_drops_its_own_lock_pin() -> None:
    stack = Stack((Pin("uvicorn", "0.49.0"), Pin("asgiref", "3.8.1")))
    wanted = envs.requirements(stack, ["django>=5.0", "uvicorn[standard]>=0.30"])
    assert wanted == ["django>=5.0", "uvicorn[standard]==0.49.0", "asgiref==3.8.1"]
    assert constraints(stack, ["asgiref==3.13.0", "Django==5.2.19", "uvicorn==0.54.0"]) == [
        "Django==5.2.19"
    ]


def test_the_installers_reason_is_one_line_without_the_version_list() -> None:
    pip = (
        "ERROR: Could not find a version that satisfies the requirement channels==9.9.9 "
        "(from versions: 0.1, 4.3.2)\nERROR: No matching distribution found for channels==9.9.9\n"
    )
    assert install_reason(pip) == "No matching distribution found for channels==9.9.9"
    uv = (
        "Using Python 3.11.7 environment at: env\n"
        "error: No solution found when resolving dependencies\n"
        "  cause: Because channels==4.2.2 depends on django>=4.2 and you require\n"
        "         channels==4.2.2, we can conclude that you require django>=4.2.\n"
    )
    assert install_reason(uv) == (
        "Because channels==4.2.2 depends on django>=4.2 and you require channels==4.2.2, "
        "we can conclude that you require django>=4.2."
    )


def test_a_build_folder_left_by_a_killed_run_is_removed(tmp_path: Path) -> None:
    pid = 2**22 + 1  # above the largest pid_max Linux allows: no process has it
    abandoned = tmp_path / f".build-{pid}-x"
    (abandoned / "bin").mkdir(parents=True)
    ours = tmp_path / f".build-{os.getpid()}-y"
    ours.mkdir()
    Builder(tmp_path, "auto")
    assert not abandoned.exists()
    assert ours.exists()  # a build of a live run is left alone


# -- each stack against the first --------------------------------------------------


def _throughput(stack: dict[str, str], flavour: str, rate: float) -> ThroughputRow:
    return ThroughputRow(
        server="uvicorn",
        flavour=flavour,
        concurrency=50,
        payload="32B-text",
        runs=2,
        msgs_per_s=rate,
        msgs_per_s_runs=[rate * 0.9, rate * 1.1],
        generator_bound=False,
        stack=stack,
    )


def _graded(stack: dict[str, str], flavour: str, case: str, grade: str) -> ConformanceRow:
    return ConformanceRow(
        case=case,
        clause="RFC 6455 5.5.1",
        server="uvicorn",
        flavour=flavour,
        grade=grade,
        observed=f"{grade.lower()} seen",
        stack=stack,
    )


def test_each_stack_gets_its_ratio_to_the_first_and_its_changed_grades() -> None:
    old, new = {"uvicorn": "0.49.0"}, {"uvicorn": "0.54.0"}
    rows = [
        _throughput(old, "sync", 500.0),
        _throughput(old, "async", 1000.0),
        _throughput(new, "sync", 500.0),
        _throughput(new, "async", 1500.0),
        *(_graded(old, f, "test_close", "FAIL") for f in ("sync", "async")),
        *(_graded(new, f, "test_close", "PASS") for f in ("sync", "async")),
        _graded(old, "async", "test_ping", "PASS"),
        _graded(new, "async", "test_ping", "PASS"),
    ]
    data: dict[str, list[object]] = {"throughput": [], "conformance": []}
    for row in rows:
        data[row.SECTION].append(row.to_json())
    found = compare(data, [("uvicorn 0.49.0", old), ("uvicorn 0.54.0", new)])
    versions = [r for r in found if isinstance(r, VersionRow)]
    assert [(r.stack_label, r.flavour, r.ratio, r.changed) for r in versions] == [
        ("uvicorn 0.49.0", "sync", 1.0, 0),
        ("uvicorn 0.49.0", "async", 1.0, 0),
        ("uvicorn 0.54.0", "sync", 1.0, 1),
        ("uvicorn 0.54.0", "async", 1.5, 1),
    ]
    # measured one stack after the other, so never paired: the ratio of the medians,
    # with the range the two runs a side allow
    assert versions[3].ratio_low == pytest.approx(1350 / 1100)
    assert versions[3].ratio_high == pytest.approx(1650 / 900)
    assert versions[3].ratio_interval == "range"
    assert [r.deviations for r in versions] == [1, 1, 0, 0]
    changes = [r for r in found if isinstance(r, VersionChangeRow)]
    assert [(c.stack_label, c.case, c.before, c.after, c.flavours) for c in changes] == [
        ("uvicorn 0.54.0", "test_close", "FAIL", "PASS", "sync, async")
    ]


# -- the command -------------------------------------------------------------------


def test_a_release_that_does_not_exist_exits_2_naming_it_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    cache, results = tmp_path / "envs", tmp_path / "results"
    done = harness(
        "versions",
        "--with",
        "uvicorn==0.49.0",
        "--with",
        "channels==9.9.9",
        "--env-cache",
        str(cache),
        "--results",
        str(results),
        timeout=300,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith("error: channels==9.9.9 does not install: ")
    assert "channels==9.9.9" in errors[0].split(":", 2)[2]
    assert not results.exists()
    assert not list(cache.iterdir())


def test_ctrl_c_while_an_environment_builds_leaves_no_half_built_environment(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "envs"
    with _spawn.started(
        [*HARNESS, "versions", "--with", "uvicorn==0.53.0", "--env-cache", str(cache)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        deadline = time.monotonic() + scaled(60)
        while time.monotonic() < deadline and not list(cache.glob(".build-*/bin/python")):
            time.sleep(0.05)
        assert list(cache.glob(".build-*")), "the build never started"
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=scaled(60))
    assert proc.returncode == 130, output
    assert not list(cache.iterdir()), list(cache.iterdir())


@pytest.mark.slow
@pytest.mark.timeout(scaled(2400))
def test_two_uvicorn_releases_are_measured_and_compared_in_one_run(
    tmp_path: Path, env_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each stack's suite runs in full, but its keepalive watch does not wait 56 s.
    monkeypatch.setenv(keepalive.WATCH_VARIABLE, "3")
    results = tmp_path / "results"
    done = harness(
        "versions",
        "--with",
        "uvicorn==0.54.0",
        "--with",
        "uvicorn==0.49.0",
        "--servers",
        "uvicorn",
        "--flavours",
        "async",
        "--quick",
        "--env-cache",
        str(env_cache),
        "--results",
        str(results),
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (folder,) = [p for p in results.iterdir() if p.is_dir()]
    data = json.loads((folder / "data.json").read_text(encoding="utf-8"))
    schema.validate(data)
    assert data["kind"] == "versions" and data["status"] == "complete"
    assert not data["failures"], data["failures"]
    stacks_ = {json.dumps(row["stack"], sort_keys=True) for row in data["conformance"]}
    assert len(stacks_) == 2
    for section in ("conformance", "throughput"):
        for row in data[section]:
            assert row["stack"]["uvicorn"] in ("0.54.0", "0.49.0"), row
            assert row["stack"]["django"] and row["stack"]["channels"] and row["stack"]["daphne"]
    versions = rows_of(data, VersionRow)
    measured = [r for r in versions if r.flavour == "async"]
    assert [r.stack_label for r in measured] == ["uvicorn 0.54.0", "uvicorn 0.49.0"]
    assert all(r.changed == 0 for r in versions if r.first)
    assert all(r.ratio == 1.0 for r in measured if r.first)
    later = [r for r in versions if not r.first]
    assert all(r.ratio is not None and r.ratio > 0 for r in measured if not r.first)
    # 0.50.0 moved --ws auto from the legacy websockets protocol to the sans-I/O one
    assert rows_of(data, VersionChangeRow), "no conformance grade changed between the two"
    assert sum(r.changed or 0 for r in later) == sum(
        len(c.flavours.split(", ")) for c in rows_of(data, VersionChangeRow)
    )
    report = (folder / "report.md").read_text(encoding="utf-8")
    assert "## Versions: each stack against the first" in report
    assert "![Throughput of each stack against the first](plots/versions.svg)" in report
    assert (folder / "plots" / "versions.svg").read_bytes() == plots.versions(data)
    assert markdown.render(data, plots={p.stem for p in (folder / "plots").glob("*.svg")}) == report
    # A second run finds both environments in the cache instead of building them.
    builder = Builder(env_cache, "auto")
    for stack in stacks(parse_with(["uvicorn==0.54.0", "uvicorn==0.49.0"])):
        env = builder.get(stack)
        assert env.installed["uvicorn"] == stack.pins[0].version
    assert not list(env_cache.glob(".build-*"))
