"""The GitHub Actions recipe (examples/ci/channels-harness.yml) cannot run here,
so its compare step runs locally, as the workflow would run it, against real runs:
an unchanged run passes, a run whose throughput fell 30% fails the step."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from channels_harness.runtime.paths import PROJECT_DIR, RESULTS_DIR

WORKFLOW = PROJECT_DIR / "examples" / "ci" / "channels-harness.yml"
FULL_RUN = RESULTS_DIR / "20261130T013000Z-vm"


def step(name: str) -> dict[str, Any]:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    (job,) = workflow["jobs"].values()
    return next(s for s in job["steps"] if s.get("name", "").startswith(name))


def run_compare_step(
    tmp_path: Path, run_copy: Callable[..., Path], factor: float
) -> subprocess.CompletedProcess[str]:
    results = tmp_path / "results"
    run_copy("results/20991231T000000Z-ci", throughput=factor)
    env = {
        **os.environ,
        "BASELINE": str(FULL_RUN),
        "RESULTS": str(results),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    script = step("Compare with the baseline")["run"]
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


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
