"""The GitHub Actions recipe (examples/ci/channels-harness.yml) cannot run here,
so its steps run locally, as the workflow would run them, against real runs: an
unchanged run passes the compare step, a run whose throughput fell 30% fails it,
no baseline fails it saying how to make one, and a run by hand stores its run as
the baseline that the compare step then accepts. The cost step's run (bench
--cost, from the published cost run) is compared too: instructions 3% higher
fail the job whatever the wall clock did. The install step takes the
harness from its checkout (it is not on PyPI) and the benchmark gives each
connection its own room."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _spawn
import yaml

from channels_harness.runtime.paths import PROJECT_DIR, RESULTS_DIR

WORKFLOW = PROJECT_DIR / "examples" / "ci" / "channels-harness.yml"
FULL_RUN = RESULTS_DIR / "20261130T013000Z-vm"
COST_RUN = RESULTS_DIR / "20261207T211510Z-vm"
NEW_RUN = "20991231T000000Z-ci"


def step(name: str) -> dict[str, Any]:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    (job,) = workflow["jobs"].values()
    return next(s for s in job["steps"] if s.get("name", "").startswith(name))


def run_step(name: str, tmp_path: Path, baseline: Path) -> subprocess.CompletedProcess[str]:
    """The step ``name``'s script run by bash in ``tmp_path``, as the workflow runs it,
    with the run folders under ``tmp_path/results``."""
    env = {
        **os.environ,
        "BASELINE": str(baseline),
        "RESULTS": str(tmp_path / "results"),
        "COST_RESULTS": str(tmp_path / "cost-results"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    return _spawn.run(
        ["bash", "-eo", "pipefail", "-c", step(name)["run"]], cwd=tmp_path, env=env, timeout=120
    )


def cost_copy(tmp_path: Path, factor: float = 1.0) -> None:
    """The published cost run as this job's cost run, its instructions times ``factor``."""
    data = json.loads((COST_RUN / "data.json").read_text(encoding="utf-8"))
    for row in data["cost"]:
        if row["instructions_per_msg"] is not None:
            row["instructions_per_msg"] *= factor
    folder = tmp_path / "cost-results" / NEW_RUN
    folder.mkdir(parents=True)
    (folder / "data.json").write_text(json.dumps(data), encoding="utf-8")


def baseline(tmp_path: Path) -> Path:
    """A committed baseline: the published full run, with the published cost run in cost/."""
    folder = tmp_path / "ci" / "baseline"
    (folder / "cost").mkdir(parents=True)
    shutil.copy(FULL_RUN / "data.json", folder / "data.json")
    shutil.copy(COST_RUN / "data.json", folder / "cost" / "data.json")
    return folder


def run_compare_step(
    tmp_path: Path, run_copy: Callable[..., Path], factor: float, cost: float = 1.0
) -> subprocess.CompletedProcess[str]:
    run_copy(f"results/{NEW_RUN}", throughput=factor)
    cost_copy(tmp_path, cost)
    return run_step("Compare with the baseline", tmp_path, baseline(tmp_path))


def test_the_workflow_is_valid_yaml_with_the_harness_steps() -> None:
    names = [
        s.get("name", "") for s in yaml.safe_load(WORKFLOW.read_text())["jobs"]["harness"]["steps"]
    ]
    assert any(n.startswith("Quick benchmark") for n in names)
    assert any(n.startswith("Compare with the baseline") for n in names)


def test_the_compare_step_passes_an_unchanged_run(
    tmp_path: Path, run_copy: Callable[..., Path]
) -> None:
    done = run_compare_step(tmp_path, run_copy, 1.0)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (tmp_path / "compare.xml").exists() and (tmp_path / "compare.md").exists()


def test_the_compare_step_fails_a_run_30_percent_slower(
    tmp_path: Path, run_copy: Callable[..., Path]
) -> None:
    done = run_compare_step(tmp_path, run_copy, 0.7)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "regression" in done.stdout
    assert "<failure" in (tmp_path / "compare.xml").read_text()


def test_the_compare_step_fails_a_run_whose_instructions_rose_3_percent(
    tmp_path: Path, run_copy: Callable[..., Path]
) -> None:
    done = run_compare_step(tmp_path, run_copy, 1.0, cost=1.03)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "rose 3.00% (more than 2%)" in done.stdout
    assert "<failure" in (tmp_path / "compare-cost.xml").read_text()
    assert "<failure" not in (tmp_path / "compare.xml").read_text()


def test_the_cost_step_is_a_valid_harness_command() -> None:
    import shlex

    from channels_harness.cli import build_parser

    env = _workflow()["jobs"]["harness"]["env"]
    command = " ".join(step("Cost per message")["run"].split())
    for name, value in env.items():
        command = command.replace(f'"${name}"', shlex.quote(str(value)))
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert args.cost and args.quick and args.app == env["APP"]
    assert "valgrind" in step("Install valgrind")["run"]


def test_the_benchmark_step_is_a_valid_harness_command() -> None:
    import shlex

    from channels_harness.cli import build_parser

    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    env = workflow["jobs"]["harness"]["env"]
    command = os.path.expandvars(" ".join(step("Quick benchmark")["run"].split()))
    for name, value in env.items():
        command = command.replace(f'"${name}"', shlex.quote(str(value)))
    argv = shlex.split(command)
    assert argv[0] == "channels-harness"
    args = build_parser().parse_args(argv[1:])
    assert args.app == env["APP"] and args.quick


def _workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def test_the_harness_is_installed_from_its_checkout_not_from_pypi() -> None:
    checkout = step("Check out channels-harness")
    assert checkout["uses"].startswith("actions/checkout@")
    folder = checkout["with"]["path"]
    installs = [
        line.split("install", 1)[1].split()
        for line in step("Install the project and the harness")["run"].splitlines()
        if "pip install" in line
    ]
    assert ["-r", "requirements.txt"] in installs
    assert [f"./{folder}"] in installs
    from_index = re.compile(r"^channels[-_]harness(\[[\w,]+\])?([=<>~!].*)?$")
    assert not [word for words in installs for word in words if from_index.match(word)]


def test_each_connection_of_the_benchmark_has_its_own_room() -> None:
    env = _workflow()["jobs"]["harness"]["env"]
    assert "{conn}" in env["WS_PATH"], "all connections would share one broadcasting room"
    assert '--path "$WS_PATH"' in step("Quick benchmark")["run"]


def test_the_compare_step_without_a_baseline_fails_saying_how_to_make_one(
    tmp_path: Path, run_copy: Callable[..., Path]
) -> None:
    run_copy(f"results/{NEW_RUN}")
    done = run_step("Compare with the baseline", tmp_path, tmp_path / "ci" / "baseline")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "::error::no baseline run in" in done.stdout and "Run workflow" in done.stdout


def test_a_run_by_hand_makes_the_baseline_the_compare_step_then_accepts(
    tmp_path: Path, run_copy: Callable[..., Path]
) -> None:
    workflow = _workflow()
    dispatch = workflow[True]["workflow_dispatch"]  # YAML reads the key "on" as True
    assert dispatch["inputs"]["baseline"]["type"] == "boolean"
    assert "workflow_dispatch" in workflow["jobs"]["harness"]["env"]["MAKE_BASELINE"]
    assert step("Compare with the baseline")["if"] == "env.MAKE_BASELINE != 'true'"
    assert step("Store this run as the baseline")["if"] == "env.MAKE_BASELINE == 'true'"
    upload = step("Upload the baseline")
    assert upload["with"] == {"name": "channels-harness-baseline", "path": "baseline/"}

    run_copy(f"results/{NEW_RUN}")
    cost_copy(tmp_path)
    stored = run_step("Store this run as the baseline", tmp_path, tmp_path / "ci" / "baseline")
    assert stored.returncode == 0, stored.stdout + stored.stderr
    assert (tmp_path / "baseline" / "data.json").is_file()
    assert (tmp_path / "baseline" / "cost" / "data.json").is_file()
    assert "channels-harness-baseline" in (tmp_path / "compare.md").read_text()
    # Unpacked into ci/baseline/ and committed, it is the baseline the next push compares with.
    (tmp_path / "ci").mkdir()
    (tmp_path / "baseline").rename(tmp_path / "ci" / "baseline")
    done = run_step("Compare with the baseline", tmp_path, tmp_path / "ci" / "baseline")
    assert done.returncode == 0, done.stdout + done.stderr
