"""The public locust API (channels_harness.locust), scenario files under locust, and
`channels-harness load --locustfile / --scenario-file`, with real locust runs.

A user's own locustfile, written here into a temporary folder with the public API
only, runs against the reference app and against the Channels tutorial chat
(examples/chat) under daphne and uvicorn. locust is never imported in this
process (it monkey-patches with gevent): it runs in subprocesses.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import _spawn
import pytest

from channels_harness.errors import UsageError
from channels_harness.experiments.load.custom import CustomLoad, missing_steps, step_rows
from channels_harness.experiments.load.locustproc import Locustfile, LocustResult, run_locust
from channels_harness.protocol.traffic import build_traffic
from channels_harness.report import markdown
from channels_harness.report.compare import compare
from channels_harness.report.rows import LocustRow
from channels_harness.runtime.paths import CHECKOUT_DIR, LOCUSTFILES_DIR, PROJECT_DIR
from channels_harness.runtime.timeouts import scaled
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.registry import get_spec
from channels_harness.servers.userapp import Readiness

assert CHECKOUT_DIR is not None
CHAT = CHECKOUT_DIR / "examples" / "chat"
APP = "mysite.asgi:application"
ORIGIN = "http://127.0.0.1"
DURATION = "3"

# A user's own locustfile: the complete example of docs/locust.md (the public API
# only: request with expect and name, send, receive with count; {conn} in a path).
OWN_LOCUSTFILE = re.search(
    r"<!-- example: mychat.py -->\n```python\n(.*?)```",
    (CHECKOUT_DIR / "docs" / "locust.md").read_text(encoding="utf-8"),
    re.DOTALL,
)

ECHO_SCENARIO = """
name = "echoes"
path = "/ws/echo/async/"

[[connect]]
send = '{"type": "hello", "conn": "{conn}"}'
expect = { type = "hello", conn = "{conn}" }

[[step]]
name = "ping"
send = { id = "p{n}", type = "ping" }
expect = { id = "p{n}", type = "ping" }

[[step]]
name = "pong"
send = "pong {n}"
regex = '^pong \\d+$'
"""

# A reply whose correlated field matches but whose other field never does.
WRONG_SCENARIO = """
name = "wrong"
path = "/ws/chat/s{conn}/"

[[step]]
name = "wrong-user"
send = '{"message": "s {n}"}'
expect = { message = "s {n}", user = "alice" }
"""

# Never-matching requests, a wrong scenario reply and a shared room, in one run; the
# import takes 2.5 s (busy, as a slow import on a loaded machine), so gevent's clock
# is stale when locust sets its run-time timer.
MIXED_LOCUSTFILE = """
import time
from pathlib import Path

from locust import task

from channels_harness.generators.locust_users import AppUser
from channels_harness.locust import ScenarioUser, WebSocketUser

_begun = time.monotonic()
while time.monotonic() - _begun < 2.5:
    pass


class Never(WebSocketUser):
    fixed_count = 1
    path = "/ws/chat/n{conn}/"

    @task
    def never(self):
        self.client.request(
            '{"message": "m {n}"}', expect={"type": "never"}, name="never", timeout=0.5
        )


class Wrong(ScenarioUser):
    fixed_count = 1
    scenario_file = Path(__file__).parent / "wrong.toml"


class Lobby(AppUser):
    fixed_count = 2
    path = "/ws/chat/lobby/"
"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the chat example with its database migrated."""
    folder = tmp_path_factory.mktemp("chat") / "chat"
    shutil.copytree(CHAT, folder)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"],
        cwd=folder,
        check=True,
        timeout=scaled(120),
    )
    return folder


@pytest.fixture(scope="module")
def chat_server(chat: Path) -> Iterator[ServerProcess]:
    """The chat example under uvicorn."""
    readiness = Readiness(ws_path="/ws/chat/lobby/", traffic=build_traffic(origin=ORIGIN))
    with ServerProcess(get_spec("uvicorn"), app=APP, app_dir=chat, readiness=readiness) as server:
        yield server


@pytest.fixture
def own_locustfile(tmp_path: Path) -> Path:
    path = tmp_path / "mychat.py"
    assert OWN_LOCUSTFILE is not None, "docs/locust.md lost its example"
    path.write_text(OWN_LOCUSTFILE.group(1))
    return path


def rows_by_step(data: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["server"], r["request_type"], r["step"]): r for r in data["locust"]}


def assert_talked(data: dict[str, Any], servers: set[str], flavour: str) -> None:
    """Every server has a say and a pair row that ran without a failure."""
    rows = rows_by_step(data)
    for server in servers:
        for step in ("say", "pair"):
            row = rows[(server, "WS", step)]
            assert row["requests"] > 0 and row["failures"] == 0, row["errors"]
            assert row["scenario"] == "mychat" and row["flavour"] == flavour
        (handshake,) = [
            r for r in data["locust"] if r["server"] == server and r["step"].startswith("/")
        ]
        assert handshake["request_type"] == "WS-CONNECT" and handshake["failures"] == 0
    assert data["failures"] == []


def test_your_locustfile_runs_against_the_reference_app(
    own_locustfile: Path, tmp_path: Path, cli: Callable[..., Any], run_data: Callable[..., Any]
) -> None:
    results = tmp_path / "results"
    done = cli(
        "load",
        "--locustfile",
        str(own_locustfile),
        "--user-class",
        "RefUser",
        "--servers",
        "uvicorn",
        "--users",
        "3",
        "--duration",
        DURATION,
        f"--results={results}",
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = run_data(results)
    assert_talked(data, {"uvicorn"}, "RefUser")
    assert data["options"]["locustfile"] == str(own_locustfile)
    assert "uvicorn RefUser say" in done.stdout


def test_your_locustfile_runs_against_the_chat_example_under_daphne_and_uvicorn(
    own_locustfile: Path,
    chat: Path,
    tmp_path: Path,
    cli: Callable[..., Any],
    run_data: Callable[..., Any],
) -> None:
    results = tmp_path / "results"
    done = cli(
        "load",
        "--locustfile",
        str(own_locustfile),
        "--user-class",
        "ChatUser",
        "--app",
        APP,
        "--app-dir",
        str(chat),
        "--servers",
        "daphne,uvicorn",
        "--users",
        "3",
        "--duration",
        DURATION,
        f"--results={results}",
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert_talked(run_data(results), {"daphne", "uvicorn"}, "ChatUser")


def test_a_scenario_file_gives_one_row_per_step_in_data_report_and_compare(
    tmp_path: Path, cli: Callable[..., Any], run_data: Callable[..., Any]
) -> None:
    """Through a locust master and one worker: the worker gets the scenario from the
    master, as data."""
    scenario = tmp_path / "echoes.toml"
    scenario.write_text(ECHO_SCENARIO)
    results = tmp_path / "results"
    done = cli(
        "load",
        "--scenario-file",
        str(scenario),
        "--servers",
        "uvicorn",
        "--users",
        "3",
        "--duration",
        DURATION,
        "--workers",
        "1",
        # Per step, and over the measured steps' rates (a connect step has none).
        "--threshold",
        "ping:errors<1",
        "--threshold",
        "msgs_per_s>5",
        f"--results={results}",
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = run_data(results)
    steps = [(r["request_type"], r["step"]) for r in data["locust"]]
    assert steps == [
        ("WS", "ping"),
        ("WS", "pong"),
        ("WS-CONNECT-STEP", "connect1"),
        ("WS-CONNECT", "echoes"),
    ]
    for row in data["locust"]:
        assert row["scenario"] == "echoes" and row["flavour"] == "/ws/echo/async/"
        assert row["failures"] == 0, row["errors"]
        assert row["workers"] == 1 and row["worker_requests"] == row["master_requests"]
    assert all(r["requests"] > 0 and r["msgs_per_s"] > 0 for r in data["locust"][:2])
    assert data["locust"][2]["requests"] == 3  # once per connection
    assert data["options"]["scenario_file"] == str(scenario)
    verdicts = {row["threshold"]: row for row in data["thresholds"]}
    assert verdicts["ping:errors<1"]["passed"] and verdicts["ping:errors<1"]["cells"] == 1
    assert verdicts["msgs_per_s>5"]["passed"] and verdicts["msgs_per_s>5"]["cells"] == 2
    report = markdown.render(data, plots=set())
    assert "| echoes | ping |" in report and "| echoes | connect1 (WS-CONNECT-STEP) |" in report
    cells = {change.cell for change in compare(data, data).changes if change.kind == "locust"}
    assert "echoes uvicorn /ws/echo/async/ ping u=3" in cells
    assert "echoes uvicorn /ws/echo/async/ echoes [WS-CONNECT] u=3" in cells


def test_replies_that_never_match_are_failures_and_other_frames_are_counted_by_kind(
    chat_server: ServerProcess, tmp_path: Path, nothing_left: Callable[..., bool]
) -> None:
    (tmp_path / "wrong.toml").write_text(WRONG_SCENARIO)
    locustfile = tmp_path / "mixed.py"
    locustfile.write_text(MIXED_LOCUSTFILE)
    result = run_locust(
        host=chat_server.ws_url("").rstrip("/"),
        users=4,
        duration_s=4,
        prefix=tmp_path / "mixed",
        locustfile=Locustfile(locustfile),
        options=(
            f"--ws-origin={ORIGIN}",
            '--ws-message={"message": "hi {n} from {conn}"}',
            '--ws-expect=from {conn}"',
        ),
    )
    entries = {(e["method"], e["name"]): e for e in result.entries}
    never, wrong = entries[("WS", "never")], entries[("WS", "wrong-user")]
    # A request that waits in vain, and a reply whose other fields are wrong: failures only.
    assert never["num_requests"] == never["num_failures"] > 0
    assert wrong["num_requests"] == wrong["num_failures"] > 0
    errors = result.error_text()
    assert 'no frame matching {type = "never"} within 0.5 s' in errors, errors
    assert "wrong reply" in errors and 'user = "anonymous", expected "alice"' in errors
    # In the shared room the other member's messages are counted apart, not taken as replies.
    lobby = entries[("WS", "app /ws/chat/lobby/")]
    assert lobby["num_requests"] > 0 and lobby["num_failures"] == 0, errors
    assert entries[("WS-OTHER", "json")]["num_requests"] > 0
    # The run lasted its 4 s although gevent's clock was 2.5 s stale when it began.
    assert lobby["last_request_timestamp"] - lobby["start_time"] > 2.5
    assert nothing_left(result.pid)


SCRIPT = """
import argparse, json, sys
import channels_harness.locust as api
from channels_harness.generators import locust_setup
from channels_harness.protocol.scenario import parse
from locust.env import Environment

class Echo(api.WebSocketUser):
    path = "/ws/echo/async/"

env = Environment(user_classes=[Echo], host="ws://192.0.2.1:8000")
env.events.init.fire(environment=env, runner=None, web_ui=None)
print("alive after init")
runner = env.create_local_runner()
runner.start(1, 1)
import gevent
gevent.sleep(1.0)
print("exit code", env.process_exit_code, "requests", runner.stats.total.num_requests)

# A worker: the scenario the master sent wins over a file it does not have.
scenario = parse({"name": "sent", "step": [{"send": "a"}]}, "inline")
sent = json.dumps(scenario.to_json())
options = argparse.Namespace(ws_scenario=sent, ws_scenario_file="/no.toml")
print("scenario", locust_setup.scenario_of(Environment(parsed_options=options)).name)
"""


def test_importing_the_api_never_exits_and_a_remote_target_stops_at_test_start() -> None:
    done = _spawn.run([sys.executable, "-c", SCRIPT], timeout=scaled(60), cwd=PROJECT_DIR)
    assert done.returncode == 0, done.stderr
    assert "alive after init" in done.stdout
    assert "exit code 2 requests 0" in done.stdout, done.stdout + done.stderr
    assert "refusing to send load to 192.0.2.1" in done.stderr
    assert "scenario sent" in done.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        pytest.param(
            ["--locustfile", "{bad}"], "does not import: ModuleNotFoundError", id="import"
        ),
        pytest.param(
            ["--locustfile", "{own}", "--user-class", "Nope"],
            "has no user class 'Nope'",
            id="class",
        ),
    ],
)
def test_a_bad_locustfile_or_user_class_is_one_line_and_exit_2(
    own_locustfile: Path, tmp_path: Path, cli: Callable[..., Any], args: list[str], says: str
) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import no_such_module_here\n")
    paths = {"bad": bad, "own": own_locustfile, "missing": tmp_path / "absent.py"}
    results = tmp_path / "results"
    argv = [arg.format(**paths) for arg in args]
    done = cli("load", *argv, f"--results={results}", timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    output = (done.stdout + done.stderr).strip()
    assert says in output and "Traceback" not in output
    assert len(output.splitlines()) == 1, output
    assert not results.exists()


def test_options_that_cannot_work_together_are_refused_before_anything_starts(
    tmp_path: Path, command: Callable[[list[str]], int], capsys: pytest.CaptureFixture[str]
) -> None:
    results = f"--results={tmp_path / 'results'}"
    for argv, says in (
        (["--user-class", "ChatUser"], "give --locustfile too"),
        (["--locustfile", "a.py", "--scenario-file", "b.toml"], "exclude each other"),
        (["--scenario-file", "b.toml", "--message", "hi"], "leave out --message"),
        (["--scenario-file", "b.toml", "--scenario", "churn"], "leave it out"),
    ):
        assert command(["load", *argv, results]) == 2
        assert says in capsys.readouterr().out
    with pytest.raises(UsageError, match="no such file"):
        command(["load", "--locustfile", str(tmp_path / "absent.py"), results])
    with pytest.raises(UsageError, match="No such file"):
        command(["load", "--scenario-file", str(tmp_path / "absent.toml"), results])
    assert not (tmp_path / "results").exists()


def test_the_locustfiles_command_prints_the_bundled_folder(cli: Callable[..., Any]) -> None:
    done = cli("locustfiles")
    assert done.returncode == 0
    assert Path(done.stdout.strip()) == LOCUSTFILES_DIR
    assert (LOCUSTFILES_DIR / "scenario.py").is_file()


# -- rows from locust's statistics (no locust run) --------------------------------------


def entry(method: str, name: str, requests: int, failures: int = 0, ms: float = 2.0) -> dict:
    seconds = {str(100 + s): requests // 4 for s in range(4)}
    return {
        "method": method,
        "name": name,
        "num_requests": requests,
        "num_failures": failures,
        "num_none_requests": requests if method == "WS-OTHER" else 0,
        "total_response_time": ms * requests,
        "min_response_time": ms,
        "max_response_time": ms,
        "response_times": {str(ms): requests},
        "num_reqs_per_sec": seconds,
        "start_time": 100.0,
        "last_request_timestamp": 104.0,
    }


def test_step_rows_fold_push_waits_name_missing_steps_and_count_other_frames() -> None:
    custom = CustomLoad(
        name="ticker",
        flavour="/ws/tick/",
        locustfile=Locustfile(LOCUSTFILES_DIR / "scenario.py", ("ScenarioUser",)),
        steps=("tick", "silent"),
        connect_steps=("subscribe",),
        push_steps=frozenset({"tick"}),
    )
    result = LocustResult(
        command=[],
        pid=0,
        returncode=0,
        entries=[
            entry("WS-CONNECT", "ticker", 4),
            entry("WS-PUSH", "tick", 400, ms=3.0),
            entry("WS", "tick", 100, failures=2),
            entry("WS-CONNECT-STEP", "subscribe", 4),
            entry("WS-OTHER", "heartbeat", 40),
        ],
        report={"errors": [{"method": "WS", "name": "tick", "error": "late", "occurrences": 2}]},
        log_path=Path("/dev/null"),
        generator_cpu=None,
        generator_cpu_total=None,
        generator_processes=1,
    )
    cell = LocustRow(
        scenario="ticker",
        server="uvicorn",
        flavour="/ws/tick/",
        failures=0,
        msgs_per_s=0.0,
        generator_bound=None,
        duration_s=4,
    )
    rows = step_rows(result, custom, cell)
    assert [(r.request_type, r.step) for r in rows] == [
        ("WS-PUSH", "tick"),
        ("WS", "silent"),
        ("WS-CONNECT-STEP", "subscribe"),
        ("WS-CONNECT", "ticker"),
    ]
    tick = rows[0]
    assert (tick.requests, tick.failures, tick.p50_ms) == (400, 2, 3.0)
    assert [e["error"] for e in tick.errors] == ["late"]
    assert all(r.other_frames == {"heartbeat": 40} for r in rows)
    assert rows[1].requests == 0 and missing_steps(rows, custom) == ["silent"]
    only_tick = CustomLoad(custom.name, custom.flavour, custom.locustfile, steps=("tick",))
    assert missing_steps(rows, only_tick) == []


def test_rows_without_a_step_keep_their_compare_cell_names() -> None:
    row = LocustRow(
        scenario="echo",
        server="uvicorn",
        flavour="async",
        failures=0,
        msgs_per_s=10.0,
        generator_bound=False,
    )
    data = {"kind": "load", "locust": [row.to_json()]}
    assert compare(data, data).changes[0].cell == "echo uvicorn async u=None"
