"""Locust workers on other hosts, for real: three network namespaces the test makes.

One namespace is the master host: ``channels-harness load --master-bind ADDR
--expect-workers 2 --server-bind ADDR`` runs the server and each cell's locust
master there. Two others are load hosts, each running ``channels-harness worker
--master ADDR`` and nothing else (the locustfile is the test's own, shipped by
the master). A bridge in the master's namespace and one veth pair per load host
join them in 10.199.0.0/24, a network that exists only inside these namespaces:
no traffic leaves them, and every name carries a prefix unique to this test run.
Every process starts through procgroup (``ip netns exec``), and whatever happens
the namespaces are emptied and deleted, and the test checks nothing is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from channels_harness.report import markdown
from channels_harness.report.compare import compare
from channels_harness.report.schema import validate
from channels_harness.runtime import procgroup
from channels_harness.runtime.timeouts import scaled
from channels_harness.testing.suites import require_or_skip

HUB = "10.199.0.1"
LOAD_HOSTS = ("10.199.0.11", "10.199.0.12")
MASTER_PORT = 5557
HARNESS = [sys.executable, "-m", "channels_harness"]
# A user's own locustfile: one request name per user, so the rows show every {conn}.
CONNS_LOCUSTFILE = """\
from locust import task

from channels_harness.locust import WebSocketUser


class ConnUser(WebSocketUser):
    path = "/ws/echo/async/"

    def wait_time(self):
        return 0.02

    @task
    def echo(self):
        self.client.request("c{conn} {n}", expect="^c{conn} {n}$", name=f"conn {self.number}")
"""


def ip(*args: str) -> None:
    """Run one ``ip`` command; CalledProcessError with its message if it fails."""
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


def netns_pids(name: str) -> set[int]:
    done = subprocess.run(
        ["ip", "netns", "pids", name], capture_output=True, text=True, timeout=30, check=False
    )
    return {int(pid) for pid in done.stdout.split()}


@dataclass
class VirtualHosts:
    """The master's namespace and one per load host, all named after ``prefix``."""

    prefix: str
    started: list[subprocess.Popen[Any]] = field(default_factory=list)

    @property
    def hub(self) -> str:
        return f"{self.prefix}-hub"

    def load_host(self, number: int) -> str:
        return f"{self.prefix}-w{number}"

    @property
    def namespaces(self) -> list[str]:
        return [self.hub, *(self.load_host(n) for n in range(len(LOAD_HOSTS)))]

    def create(self) -> None:
        """The namespaces, the bridge on the hub and a veth pair per load host, up."""
        for name in self.namespaces:
            ip("netns", "add", name)
            ip("-n", name, "link", "set", "lo", "up")
        bridge = f"{self.prefix}-br"
        ip("-n", self.hub, "link", "add", bridge, "type", "bridge")
        ip("-n", self.hub, "addr", "add", f"{HUB}/24", "dev", bridge)
        ip("-n", self.hub, "link", "set", bridge, "up")
        for number, address in enumerate(LOAD_HOSTS):
            hub_end, host_end = f"{self.prefix}-h{number}", f"{self.prefix}-l{number}"
            namespace = self.load_host(number)
            # A pair made straight into both namespaces: nothing in the host's own.
            ip(
                "link", "add", hub_end, "netns", self.hub,
                "type", "veth", "peer", "name", host_end, "netns", namespace,
            )  # fmt: skip
            ip("-n", self.hub, "link", "set", hub_end, "master", bridge, "up")
            ip("-n", namespace, "addr", "add", f"{address}/24", "dev", host_end)
            ip("-n", namespace, "link", "set", host_end, "up")

    def spawn(self, namespace: str, argv: list[str], log: Path) -> subprocess.Popen[Any]:
        """``argv`` in ``namespace`` through procgroup, its output in ``log``, its
        temporary files beside it (a host that crashes leaves them there)."""
        env = {**os.environ, "TMPDIR": str(log.parent)}
        with open(log, "wb") as out:
            popen = procgroup.spawn(
                argv, netns=namespace, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent, env=env
            )
        self.started.append(popen)
        return popen

    def crash(self, namespace: str) -> None:
        """Kill every process of ``namespace`` at once, as a host that loses power."""
        for pid in netns_pids(namespace):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def tear_down(self) -> list[str]:
        """Stop what the test started, empty and delete the namespaces; return what
        had to be killed or could not be removed (empty: nothing was left)."""
        left: list[str] = []
        for popen in reversed(self.started):
            procgroup.stop_group(popen, grace=5.0)
        for name in self.namespaces:
            deadline = time.monotonic() + scaled(10)
            while netns_pids(name) and time.monotonic() < deadline:
                time.sleep(0.1)
            stragglers = netns_pids(name)
            if stragglers:
                left.append(f"processes {sorted(stragglers)} still ran in {name}")
                self.crash(name)
            with contextlib.suppress(subprocess.CalledProcessError):
                ip("netns", "del", name)
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        left += [f"namespace {n} still exists" for n in self.namespaces if n in listed.split()]
        left += [f"link left: {line}" for line in links.splitlines() if f"{self.prefix}-" in line]
        return left


@pytest.fixture
def hosts() -> Iterator[VirtualHosts]:
    """Three fresh network namespaces (see the module doc), removed afterwards, on
    every exit path; the test fails when anything of them was left."""
    if shutil.which("ip") is None:
        require_or_skip("network namespaces", "iproute2's `ip` is not installed")
    made = VirtualHosts(f"chh{os.getpid() % 100000}")
    try:
        made.create()
    except (subprocess.CalledProcessError, OSError) as exc:
        made.tear_down()
        detail = getattr(exc, "stderr", "") or str(exc)
        require_or_skip("network namespaces", f"cannot create them here: {detail.strip()}")
    try:
        yield made
    finally:
        left = made.tear_down()
    assert not left, left


def wait_for(what: str, ready: Callable[[], bool], popen: subprocess.Popen[Any], log: Path) -> None:
    """Poll ``ready`` until true; fail saying ``what`` when ``popen`` exits or time runs out."""
    deadline = time.monotonic() + scaled(60)
    while not ready():
        if popen.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{what} never happened; load's output:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def cell_log(results: Path, repeat: int) -> Path | None:
    """The locust master log of the cell's ``repeat``-th round, once it exists."""
    found = sorted(results.glob(f"*/locust/*-r{repeat}/locust.log"))
    return found[0] if found else None


def running(results: Path, repeat: int) -> bool:
    """Whether the master of round ``repeat`` has all its users running."""
    log = cell_log(results, repeat)
    return log is not None and "All users spawned" in log.read_text(errors="replace")


def server_peers(namespace: str) -> set[str]:
    """The addresses connected to a port of ``namespace`` other than the master's."""
    done = subprocess.run(
        ["ip", "netns", "exec", namespace, "ss", "-Htn", "state", "established"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    peers = set()
    for line in done.stdout.splitlines():
        local, peer = line.split()[-2:]
        if local.startswith(f"{HUB}:") and not local.endswith(f":{MASTER_PORT}"):
            peers.add(peer.rsplit(":", 1)[0])
    return peers


@pytest.mark.slow
def test_two_load_hosts_reach_the_server_and_a_lost_one_fails_only_its_cell(
    hosts: VirtualHosts, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    locustfile = tmp_path / "conns.py"
    locustfile.write_text(CONNS_LOCUSTFILE)
    workers = [
        hosts.spawn(
            hosts.load_host(number),
            # The first serves both cells and leaves; the second is lost in the second.
            [*HARNESS, "worker", "--master", HUB, "--wait", "60", "--cells", "2"],
            tmp_path / f"worker{number}.log",
        )
        for number in range(len(LOAD_HOSTS))
    ]
    load_log = tmp_path / "load.log"
    load = hosts.spawn(
        hosts.hub,
        [
            *HARNESS, "load", "--locustfile", str(locustfile), "--servers", "uvicorn",
            "--users", "4", "--duration", "5", "--repeat", "2",
            "--master-bind", HUB, "--expect-workers", "2", "--server-bind", HUB,
            "--worker-wait", "60", "--threshold", "errors<1", f"--results={results}",
        ],
        load_log,
    )  # fmt: skip
    wait_for("the first cell's users running", lambda: running(results, 0), load, load_log)
    peers: set[str] = set()

    def both_connected() -> bool:
        peers.update(server_peers(hosts.hub))
        return set(LOAD_HOSTS) <= peers or running(results, 1)

    wait_for("the server's connections", both_connected, load, load_log)
    # The server saw connections from both load hosts, from nowhere else.
    assert peers == set(LOAD_HOSTS), peers
    wait_for("the second cell's users running", lambda: running(results, 1), load, load_log)
    time.sleep(0.5)
    hosts.crash(hosts.load_host(1))
    assert load.wait(timeout=scaled(90)) == 1, load_log.read_text()[-3000:]
    assert workers[0].wait(timeout=scaled(30)) == 0, (tmp_path / "worker0.log").read_text()

    (data_file,) = results.glob("*/data.json")
    data = json.loads(data_file.read_text())
    validate(data)
    assert data["status"] == "complete"
    check_first_cell(data, data_file.parent)
    # The second cell lost its worker on the crashed host: a failed cell, with why.
    (failure,) = data["failures"]
    assert failure["cell"]["repeat"] == 1, failure
    assert "was lost during the run" in failure["message"], failure
    assert LOAD_HOSTS[1] in failure["message"], failure
    # Thresholds, the report and compare take the run like any load run.
    (verdict,) = data["thresholds"]
    assert verdict["threshold"] == "errors<1" and verdict["passed"] and verdict["cells"] > 0
    text = markdown.render(data, plots=set())
    assert "conn 1000001" in text
    # The report shows each worker's own figures beside the merged cell.
    workers_table = text[text.index("## Locust workers") :]
    assert all(host in workers_table for host in LOAD_HOSTS), workers_table[:2000]
    cells = {change.cell for change in compare(data, data).changes if change.kind == "locust"}
    assert any("conn 0" in cell for cell in cells), cells


def check_first_cell(data: dict[str, Any], run: Path) -> None:
    """Both load hosts' users reached the server in the first cell, their {conn}
    numbers did not collide, and the merged counts are the sum of theirs."""
    rows = [row for row in data["locust"] if row["repeat"] == 0]
    assert {row["repeat"] for row in data["locust"]} == {0}
    messages = {row["step"]: row for row in rows if row["request_type"] == "WS"}
    # Two users per worker: worker 0 numbers them from 0, worker 1 from 1,000,000.
    assert set(messages) == {"conn 0", "conn 1", "conn 1000000", "conn 1000001"}, messages
    assert all(row["requests"] > 0 and row["failures"] == 0 for row in rows), rows
    (per_worker,) = {json.dumps(row["per_worker"]) for row in rows}
    workers = json.loads(per_worker)
    assert sorted(w["address"] for w in workers) == sorted(LOAD_HOSTS), workers
    for worker in workers:
        assert worker["users"] == 2 and worker["requests"] > 0 and worker["failures"] == 0
        assert worker["cpu"] is not None and isinstance(worker["generator_bound"], bool)
        assert worker["lost"] is None
    master = rows[0]["master_requests"]
    assert master == rows[0]["worker_requests"] == sum(w["requests"] for w in workers)
    assert master == sum(row["requests"] for row in rows)
    # What each worker itself says it reported (written on the shared disk), apart.
    (cell,) = {row["output"] for row in rows}
    own = [json.loads(p.read_text()) for p in (run / cell).parent.glob("*_harness.worker-*")]
    assert len(own) == 2, own
    assert master == sum(entry["requests"] for report in own for entry in report["reported"])
