"""The Kubernetes deployment of docs/distributed.md cannot run here, so it is
checked on paper: the manifest parses, its containers' command lines are valid
``channels-harness`` command lines (the harness's own parser and the load
command's own checks), and its parts agree with each other (the workers find
the master's Service on the master's port, as many as the master expects, the
servers listen on the pod's own address). The commands the document shows for
real hosts pass the same checks."""

from __future__ import annotations

import argparse
import re
import shlex
from typing import Any

import yaml

from channels_harness.cli import build_parser
from channels_harness.commands.load import _problem
from channels_harness.experiments.load.workers import split_address
from channels_harness.runtime.paths import PROJECT_DIR

MANIFEST = PROJECT_DIR / "examples" / "k8s" / "channels-harness.yaml"
DOC = PROJECT_DIR / "docs" / "distributed.md"
POD_IP = "10.244.1.7"


def objects() -> dict[tuple[str, str], dict[str, Any]]:
    docs = [doc for doc in yaml.safe_load_all(MANIFEST.read_text()) if doc]
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}


def container(job: dict[str, Any], name: str) -> dict[str, Any]:
    containers = job["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == name)


def harness_args(argv: list[str], env: dict[str, str]) -> argparse.Namespace:
    """``argv`` (``channels-harness ...``, ``$(VAR)`` expanded from ``env`` as the
    kubelet does) parsed by the harness's own parser."""
    assert argv[0] == "channels-harness", argv
    expanded = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], arg) for arg in argv[1:]]
    return build_parser().parse_args(expanded)


def test_the_manifest_runs_a_master_and_its_workers_with_valid_command_lines() -> None:
    found = objects()
    master_job = found[("Job", "harness-master")]
    workers_job = found[("Job", "harness-workers")]
    service = found[("Service", "harness-master")]
    master = container(master_job, "master")
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in master["env"]}
    assert env == {"POD_IP": "status.podIP"}
    load = harness_args(master["args"], {"POD_IP": POD_IP})
    assert load.handler.__module__ == "channels_harness.commands.load"
    assert _problem(load) is None
    assert load.server_bind == POD_IP
    _, master_port = split_address(load.master_bind, "--master-bind")

    worker = harness_args(container(workers_job, "worker")["args"], {})
    assert worker.handler.__module__ == "channels_harness.commands.worker"
    host, port = split_address(worker.master, "--master")
    # The workers reach the master's Service, on the port the master binds.
    assert host == service["metadata"]["name"]
    (service_port,) = service["spec"]["ports"]
    assert port == service_port["port"] == service_port["targetPort"] == master_port
    master_labels = master_job["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= master_labels.items()
    # As many workers as the master expects, and they wait as long as it does.
    spec = workers_job["spec"]
    assert spec["parallelism"] == spec["completions"] == load.expect_workers
    assert worker.wait >= load.worker_wait
    # Only the workers may reach the master pod.
    policy = found[("NetworkPolicy", "harness-master")]["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= master_labels.items()
    worker_labels = workers_job["spec"]["template"]["metadata"]["labels"]
    (rule,) = policy["ingress"]
    assert rule["from"][0]["podSelector"]["matchLabels"].items() <= worker_labels.items()
    # The results stay readable after the run, in the container kubectl cp reads.
    mounts = {m["mountPath"] for m in container(master_job, "results")["volumeMounts"]}
    assert load.results in mounts


def doc_commands() -> list[list[str]]:
    """Every ``channels-harness`` command line of the document's code blocks."""
    lines = [line.strip() for line in DOC.read_text().splitlines() if line.startswith("    ")]
    return [shlex.split(line) for line in lines if line.startswith("channels-harness ")]


def test_the_documents_commands_are_valid_command_lines() -> None:
    commands = doc_commands()
    assert {argv[1] for argv in commands} == {"load", "worker"}, commands
    for argv in commands:
        args = harness_args(argv, {})
        if argv[1] == "load":
            assert _problem(args) is None, argv
        else:
            split_address(args.master, "--master")


def test_a_command_line_that_cannot_work_is_caught_by_the_same_checks() -> None:
    # Without the servers' address the workers' users would connect to their own loopback.
    args = harness_args(
        ["channels-harness", "load", "--master-bind", "0.0.0.0", "--expect-workers", "4"], {}
    )
    assert "reachable from them" in (_problem(args) or "")
