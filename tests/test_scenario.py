"""Scenario files and the sans-I/O conversation both engines drive (no sockets here)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from channels_harness.errors import UsageError
from channels_harness.protocol import scenario as sc
from channels_harness.protocol.conversation import Conversation, Done, Failed, Frame, Other
from channels_harness.protocol.scenario_traffic import (
    MESSAGE_STEP,
    MessageConversation,
    handshake_traffic,
    messages_scenario,
)
from channels_harness.protocol.traffic import build_traffic

GRAPHQL = """
name = "graphql"
path = "/ws/graphql/c{conn}/"
subprotocols = ["graphql-transport-ws"]

[[connect]]
send = '{"type": "connection_init"}'
expect = { type = "connection_ack" }

[[step]]
name = "hello"
send = '{"id": "h{n}", "type": "subscribe", "payload": {"query": "{ hello }"}}'
expect = { id = "h{n}", type = "next", "payload.data.hello" = "Hello world" }
count = 2
until = { id = "h{n}", type = "complete" }
"""


def parsed(text: str) -> sc.Scenario:
    return sc.parse(tomllib.loads(text), "test.toml")


def frame(document: object) -> Frame:
    return Frame(json.dumps(document).encode())


def one_step(step: str, head: str = "") -> sc.Scenario:
    return parsed(f"{head}\n[[step]]\n{step}\n")


# -- the file ---------------------------------------------------------------------------


def test_the_issues_graphql_example_parses_with_every_part() -> None:
    scenario = parsed(GRAPHQL)
    assert scenario.name == "graphql"
    assert scenario.subprotocols == ("graphql-transport-ws",)
    assert scenario.url_path(7) == "/ws/graphql/c7/"
    assert [s.name for s in scenario.connect] == ["connect1"]
    (hello,) = scenario.steps
    assert hello.count == 2 and hello.until is not None
    assert dict(hello.expect.fields)["payload.data.hello"] == "Hello world"
    assert hello.expect.correlated
    assert scenario.step_names == ["hello"]


def test_a_scenario_travels_as_json_and_comes_back_equal() -> None:
    scenario = parsed(GRAPHQL)
    again = sc.Scenario.from_json(json.loads(json.dumps(scenario.to_json())))
    assert again == scenario


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("name = 'x'", "has no [[step]]"),
        ("[[step]]\nsend = 'a'\nexpct = { type = 'a' }", "unknown key 'expct'"),
        ("colour = 'red'\n[[step]]\nsend = 'a'", "unknown key 'colour'"),
        ("[[step]]\nsend = 'a'\ncount = -1", "count must be a whole number"),
        ("[[step]]\ncount = 0", "count = 0 with no send"),
        ("[[step]]\nsend = 'a'\nregex = '(unclosed'", "is not a regular expression"),
        ("[[step]]\nsend = 'a'\nthink = [2, 1]", "lo <= hi"),
        ("[[step]]\nsend = 'a'\nexpect = 'message'", "must be a table"),
        ("path = 'ws/x'\n[[step]]\nsend = 'a'", "must start with '/'"),
        ("headers = ['no colon']\n[[step]]\nsend = 'a'", "is not 'Name: value'"),
        ("[[step]]\nsend = 'a'\ntimeout = 0", "timeout must be a number >= 0.001"),
    ],
)
def test_a_bad_file_is_one_usage_error_naming_the_fault(text: str, says: str) -> None:
    with pytest.raises(UsageError, match=r"test\.toml") as raised:
        parsed(text)
    assert says in str(raised.value)


def test_a_good_file_of_each_form_is_accepted() -> None:
    scenario = parsed(
        "headers = { Authorization = 'Bearer x' }\n"
        "[[step]]\nsend = { type = 'ping', n = '{n}' }\nthink = [0.1, 0.2]\ntimeout = 1"
    )
    assert scenario.headers == (("Authorization", "Bearer x"),)
    (step,) = scenario.steps
    assert json.loads(step.send or "") == {"type": "ping", "n": "{n}"}
    assert step.think == (0.1, 0.2) and step.timeout_s == 1.0
    assert parsed("headers = ['X-A: 1']\n[[step]]\nsend = 'a'").headers == (("X-A", "1"),)


def test_load_reports_a_missing_file_and_bad_toml_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="No such file"):
        sc.load(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[step]\n")
    with pytest.raises(UsageError, match="not valid TOML"):
        sc.load(bad)
    good = tmp_path / "chat.toml"
    good.write_text("[[step]]\nsend = 'hi'\n")
    assert sc.load(good).name == "chat"


# -- templates and matching -------------------------------------------------------------


def test_only_the_three_placeholders_are_replaced() -> None:
    scenario = one_step('send = \'{"q": "{ hello { n } }", "id": "{n}-{conn}", "x": "{other}"}\'')
    talk = Conversation(scenario, conn=4)
    step, n = talk.next_step()
    pending = talk.begin(step, n, now=0.0)
    assert json.loads(pending.text or "") == {"q": "{ hello { n } }", "id": "0-4", "x": "{other}"}
    step, n = talk.next_step()
    assert n == 1


@pytest.mark.parametrize(
    ("expect", "document", "matches"),
    [
        ("{ count = 5 }", {"count": 5}, True),
        ("{ count = 5 }", {"count": "5"}, False),
        ("{ count = '5' }", {"count": "5"}, True),
        ("{ count = '5' }", {"count": 5}, False),
        ("{ ok = true }", {"ok": True}, True),
        ("{ ok = true }", {"ok": 1}, False),
        ("{ count = 1 }", {"count": True}, False),
        ("{ 'payload.data.hello' = 'hi' }", {"payload": {"data": {"hello": "hi"}}}, True),
        ("{ payload = { data = { hello = 'hi' } } }", {"payload": {"data": {"hello": "hi"}}}, True),
        ("{ 'items.1.id' = 2 }", {"items": [{"id": 1}, {"id": 2}]}, True),
        ("{ 'items.2.id' = 2 }", {"items": [{"id": 1}, {"id": 2}]}, False),
        ("{ 'payload.data.hello' = 'hi' }", {"payload": None}, False),
    ],
)
def test_expected_fields_compare_with_their_json_types(
    expect: str, document: object, matches: bool
) -> None:
    talk = Conversation(one_step(f"send = 'x'\nexpect = {expect}"), conn=0)
    step, n = talk.next_step()
    talk.begin(step, n, now=0.0)
    events = talk.receive(frame(document), now=0.5)
    assert isinstance(events[0], Done) is matches
    assert isinstance(events[0], Other) is not matches


@pytest.mark.parametrize("sent", [3, "3"])
def test_a_lone_n_matches_the_number_or_its_string(sent: object) -> None:
    talk = Conversation(one_step("send = 'x'\nexpect = { request_id = '{n}' }"), conn=0)
    for _ in range(3):
        talk.receive(frame({}), 0.0)  # nothing waits: counted as other
    for _ in range(3):
        step, n = talk.next_step()
    talk.begin(step, n, now=0.0)
    assert n == 2
    assert isinstance(talk.receive(frame({"request_id": 2 if sent == 3 else "2"}), 1.0)[0], Done)


def test_a_regex_beside_the_fields_must_match_too() -> None:
    scenario = one_step("send = 'x'\nexpect = { type = 'm' }\nregex = 'hi \\d+'")
    talk = Conversation(scenario, conn=0)
    step, n = talk.next_step()
    talk.begin(step, n, 0.0)
    assert isinstance(talk.receive(frame({"type": "m", "text": "bye"}), 0.1)[0], Other)
    assert isinstance(talk.receive(frame({"type": "m", "text": "hi 12"}), 0.2)[0], Done)


# -- the conversation -------------------------------------------------------------------


def test_connect_steps_come_once_then_the_steps_round_after_round() -> None:
    scenario = parsed(GRAPHQL.replace("[[step]]", "[[step]]\nname = 'a'\nsend = 'x'\n[[step]]", 1))
    talk = Conversation(scenario, conn=0)
    order = []
    for _ in range(5):
        connecting = talk.connecting
        step, n = talk.next_step()
        order.append((connecting, step.name, n))
    assert order == [
        (True, "connect1", 0),
        (False, "a", 0),
        (False, "hello", 0),
        (False, "a", 1),
        (False, "hello", 1),
    ]


def test_a_subscription_ends_at_until_after_its_count_and_takes_extra_frames() -> None:
    talk = Conversation(parsed(GRAPHQL), conn=0)
    talk.next_step()
    step, n = talk.next_step()
    talk.begin(step, n, now=1.0)
    nxt = {"id": "h0", "type": "next", "payload": {"data": {"hello": "Hello world"}}}
    assert talk.receive(frame(nxt), 1.1) == []
    assert talk.receive(frame(nxt), 1.2) == []
    assert talk.receive(frame(nxt), 1.3) == []  # a third next: part of the step
    (done,) = talk.receive(frame({"id": "h0", "type": "complete"}), 1.5)
    assert isinstance(done, Done)
    assert done.frames == 4 and done.latency_s == pytest.approx(0.5) and done.first == 1.1
    assert not talk.pending


def test_until_before_the_count_is_an_error() -> None:
    talk = Conversation(parsed(GRAPHQL), conn=0)
    talk.next_step()
    step, n = talk.next_step()
    talk.begin(step, n, now=0.0)
    nxt = {"id": "h0", "type": "next", "payload": {"data": {"hello": "Hello world"}}}
    talk.receive(frame(nxt), 0.1)
    (failed,) = talk.receive(frame({"id": "h0", "type": "complete"}), 0.2)
    assert isinstance(failed, Failed)
    assert "after 1 of 2" in failed.reason and failed.reason.startswith("hello:")


def test_a_reply_to_this_request_that_does_not_match_is_an_error_with_the_frame() -> None:
    talk = Conversation(parsed(GRAPHQL), conn=0)
    talk.next_step()
    step, n = talk.next_step()
    talk.begin(step, n, now=0.0)
    wrong = {"id": "h0", "type": "next", "payload": {"data": {"hello": "Goodbye"}}}
    (failed,) = talk.receive(frame(wrong), 0.1)
    assert isinstance(failed, Failed)
    assert "Goodbye" in failed.reason and "payload.data.hello" in failed.reason


def test_frames_for_nobody_are_other_by_kind_and_never_a_reply() -> None:
    talk = Conversation(parsed(GRAPHQL), conn=0)
    talk.next_step()
    step, n = talk.next_step()
    talk.begin(step, n, now=0.0)
    other_id = {"id": "h9", "type": "next", "payload": {"data": {"hello": "Hello world"}}}
    events = [
        *talk.receive(frame({"type": "ping"}), 0.1),
        *talk.receive(frame(other_id), 0.2),
        *talk.receive(Frame(b"plain words"), 0.3),
        *talk.receive(Frame(b"\x00\x01", binary=True), 0.4),
        *talk.receive(frame([1, 2]), 0.5),
    ]
    assert all(isinstance(e, Other) for e in events)
    assert talk.other == {"ping": 1, "next": 1, "text": 1, "binary": 1, "json": 1}
    assert len(talk.pending) == 1


def test_a_reply_that_can_never_match_ends_in_errors_never_in_successes() -> None:
    talk = Conversation(one_step("send = 'x'\nexpect = { type = 'never' }\ntimeout = 2"), 0)
    outcomes = []
    for round_ in range(3):
        step, n = talk.next_step()
        start = round_ * 10.0
        talk.begin(step, n, start)
        outcomes += talk.receive(frame({"type": "reply"}), start + 0.1)
        outcomes += talk.expire(start + 1.0)
        outcomes += talk.expire(start + 2.0)
    assert not any(isinstance(o, Done) for o in outcomes)
    failures = [o for o in outcomes if isinstance(o, Failed)]
    assert len(failures) == 3
    assert "within 2 s" in failures[0].reason and "reply" in failures[0].reason


def test_a_strict_step_fails_on_the_first_frame_it_cannot_use() -> None:
    talk = Conversation(one_step("send = 'x'\nexpect = { type = 'm' }\nstrict = true"), 0)
    step, n = talk.next_step()
    talk.begin(step, n, 0.0)
    (failed,) = talk.receive(frame({"type": "history"}), 0.1)
    assert isinstance(failed, Failed) and "unexpected frame" in failed.reason


def test_open_loop_instances_each_take_their_own_reply_in_any_order() -> None:
    talk = Conversation(one_step("send = 'x{n}'\nexpect = { id = 'r{n}' }"), conn=0)
    for _ in range(3):
        step, n = talk.next_step()
        talk.begin(step, n, now=float(n))
    (second,) = talk.receive(frame({"id": "r1"}), 5.0)
    (third,) = talk.receive(frame({"id": "r2"}), 6.0)
    (first,) = talk.receive(frame({"id": "r0"}), 7.0)
    assert [(e.n, e.latency_s) for e in (first, second, third)] == [(0, 7.0), (1, 4.0), (2, 4.0)]  # type: ignore[union-attr]


def test_uncorrelated_replies_go_to_the_oldest_waiting_instance() -> None:
    talk = Conversation(one_step("send = 'x'\nexpect = { type = 'm' }"), conn=0)
    for _ in range(2):
        step, n = talk.next_step()
        talk.begin(step, n, now=float(n))
    (done,) = talk.receive(frame({"type": "m"}), 3.0)
    assert isinstance(done, Done) and done.n == 0


def test_a_push_step_measures_latency_from_the_frames_timestamp() -> None:
    talk = Conversation(one_step("expect = { type = 'tick' }\ncount = 2\nlatency_from = 'ts'"), 0)
    step, n = talk.next_step()
    pending = talk.begin(step, n, now=0.0)
    assert pending.text is None and step.pushed
    talk.receive(frame({"type": "tick", "ts": 100.0}), now=0.1, wall=100.004)
    (done,) = talk.receive(frame({"type": "tick", "ts": 100.5}), now=0.6, wall=100.502)
    assert isinstance(done, Done)
    assert done.push_latencies_s == pytest.approx((0.004, 0.002))


def test_a_pushed_frame_without_its_timestamp_is_an_error() -> None:
    talk = Conversation(one_step("expect = { type = 'tick' }\nlatency_from = 'ts'"), 0)
    step, n = talk.next_step()
    talk.begin(step, n, now=0.0)
    (failed,) = talk.receive(frame({"type": "tick", "ts": "soon"}), now=0.1, wall=1.0)
    assert isinstance(failed, Failed) and "latency_from" in failed.reason


def test_count_zero_sends_and_waits_for_nothing() -> None:
    talk = Conversation(one_step("send = 'bye'\ncount = 0"), 0)
    step, n = talk.next_step()
    assert talk.begin(step, n, 0.0).text == "bye"
    assert not talk.pending
    assert isinstance(talk.receive(frame({"type": "late"}), 0.1)[0], Other)


def test_abandon_fails_every_waiting_instance() -> None:
    talk = Conversation(one_step("send = 'x'"), 0)
    for _ in range(2):
        step, n = talk.next_step()
        talk.begin(step, n, 0.0)
    failed = talk.abandon(1.0, "connection lost")
    assert [f.n for f in failed] == [0, 1] and not talk.pending


def test_a_step_with_no_expect_takes_any_next_frame() -> None:
    talk = Conversation(one_step("send = 'x'"), 0)
    step, n = talk.next_step()
    talk.begin(step, n, 0.0)
    assert isinstance(talk.receive(Frame(b"anything"), 0.1)[0], Done)


def test_think_is_drawn_in_its_range_and_repeatable_per_connection() -> None:
    scenario = one_step("send = 'x'\nthink = [0.1, 0.3]")
    draws = [Conversation(scenario, conn=3).think_s(scenario.steps[0]) for _ in range(2)]
    assert draws[0] == draws[1] and 0.1 <= draws[0] <= 0.3
    fixed = one_step("send = 'x'\nthink = 0.25")
    assert Conversation(fixed, 0).think_s(fixed.steps[0]) == 0.25


def test_a_step_built_in_code_is_the_step_of_the_same_table_in_a_file() -> None:
    table = {"send": "hi {n}", "expect": {"payload": {"id": "{n}"}}, "count": 2, "timeout": 3}
    built = sc.make_step(table, name="hi", where="request(name='hi')")
    (from_file,) = parsed(
        "[[step]]\nname = 'hi'\nsend = 'hi {n}'\nexpect = { 'payload.id' = '{n}' }\n"
        "count = 2\ntimeout = 3"
    ).steps
    assert built == from_file
    with pytest.raises(UsageError, match=r"request\(name='hi'\).*unknown key 'expct'"):
        sc.make_step({"expct": {}}, name="hi", where="request(name='hi')")


def test_unfinished_says_what_each_instance_still_waited_for() -> None:
    talk = Conversation(one_step("send = 'x'\nexpect = { type = 'pong' }"), 0)
    step, n = talk.next_step()
    talk.begin(step, n, 0.0)
    talk.receive(frame({"type": "ping"}), 0.1)
    (failed,) = talk.unfinished(1.0, "the run ended")
    assert failed.reason.startswith('step1: no frame matching {type = "pong"} before the run ended')
    assert "last unused frame" in failed.reason and "ping" in failed.reason
    assert not talk.pending and talk.unfinished(2.0, "again") == []


# -- the --message traffic as a scenario, and a scenario's handshake as traffic ----------


def test_messages_become_steps_named_message_numbered_per_message() -> None:
    traffic = build_traffic(messages=['{"a": {n}}', "b {conn} {n}"])
    scenario = messages_scenario(traffic)
    assert scenario.step_names == [MESSAGE_STEP] and len(scenario.steps) == 2
    talk = MessageConversation(scenario, conn=7)
    sent = []
    for _ in range(4):
        step, n = talk.next_step()
        sent.append(talk.begin(step, n, 0.0).text)
        talk.abandon(0.0, "next")
    assert sent == ['{"a": 0}', "b 7 1", '{"a": 2}', "b 7 3"]  # as Traffic.message says
    assert sent == [traffic.message(n, 7) for n in range(4)]


def test_without_expect_the_next_frame_is_the_reply_and_with_it_the_next_that_matches() -> None:
    loose = MessageConversation(messages_scenario(build_traffic(messages=["hi"])), 0)
    step, n = loose.next_step()
    loose.begin(step, n, 0.0)
    assert isinstance(loose.receive(Frame(b"anything at all"), 0.1)[0], Done)
    expecting = messages_scenario(build_traffic(messages=["hi"], expect=r"hi \d"))
    talk = MessageConversation(expecting, 0)
    step, n = talk.next_step()
    talk.begin(step, n, 0.0)
    # A greeting (or another member's message) is counted apart, never the reply.
    assert isinstance(talk.receive(Frame(b'{"type": "history"}'), 0.1)[0], Other)
    assert talk.other == {"history": 1}
    assert isinstance(talk.receive(Frame(b"hi 5"), 0.2)[0], Done)
    step, n = talk.next_step()
    talk.begin(step, n, 1.0)
    assert talk.expire(5.0) == []
    (failed,) = talk.expire(11.0)  # the reply never came: an error at the step's timeout
    assert isinstance(failed, Failed) and "within 10 s" in failed.reason
    assert isinstance(talk.receive(Frame(b"late"), 11.1)[0], Other)  # nothing waits


def test_echo_traffic_is_no_scenario() -> None:
    with pytest.raises(ValueError, match="no messages"):
        messages_scenario(build_traffic(origin="http://x"))


def test_a_scenarios_handshake_and_the_command_lines_add_up() -> None:
    scenario = parsed(
        "origin = 'http://file'\ncookie = 'a=1; b=2'\nsubprotocols = ['one', 'two']\n"
        "headers = { 'X-File' = 'f', 'X-Both' = 'file' }\n[[step]]\nsend = 'x'"
    )
    alone = handshake_traffic(scenario)
    assert alone.header("Origin") == "http://file" and alone.header("Cookie") == "a=1; b=2"
    assert alone.header("X-File") == "f"
    assert ("Sec-WebSocket-Protocol", "one, two") in alone.handshake_headers()
    assert alone.header("X-Both") == "file"
    given = build_traffic(
        origin="http://cli",
        cookies=["c=3"],
        headers=["X-Cli: c", "x-both: cli"],
        subprotocol="three",
    )
    both = handshake_traffic(scenario, given)
    assert both.header("Origin") == "http://cli"
    assert both.header("Cookie") == "a=1; b=2; c=3"
    assert both.header("X-File") == "f" and both.header("X-Cli") == "c"
    # A header the command line names replaces the file's: one of each name.
    names = [name.lower() for name, _ in both.headers]
    assert both.header("X-Both") == "cli" and len(names) == len(set(names))
    assert both.subprotocol == "three" and both.echo


@pytest.mark.parametrize(
    ("head", "says"),
    [
        ("headers = ['Upgrade: h2c']", "writes that header itself"),
        ("cookie = 'no equals'", "name=value"),
    ],
)
def test_a_bad_handshake_in_the_file_names_the_file(head: str, says: str) -> None:
    with pytest.raises(UsageError, match=r"scenario file test\.toml") as raised:
        handshake_traffic(parsed(f"{head}\n[[step]]\nsend = 'x'"))
    assert says in str(raised.value)
