"""Scriptable probe consumers for conformance tests.

A test connects to ``ws/probe/<flavour>/?id=ID&script=JSON`` and says which ASGI
events the consumer sends, and when. The consumer records everything it
receives and every exception ``send`` raises (see :mod:`wsapp.probe_log`);
the test reads that back from ``GET /probe/ID/``.

The script maps a trigger to a list of actions::

    {"connect": [...], "receive": [...], "disconnect": [...]}

Defaults: accept on connect, echo each message, nothing on disconnect. A text
message that starts with ``probe:`` carries its own action list as JSON, run
instead of the ``receive`` actions. Actions:

- ``{"send": EVENT}``: hand EVENT to ``send`` as given; ``{"$hex": "..."}``
  anywhere in it stands for bytes. An exception from ``send`` is recorded and
  the script goes on.
- ``{"echo": true}``: send the received message back with the same keys.
- ``{"sleep": SECONDS}``: wait (blocking in ``sync``, awaiting in ``async``).
- ``{"raise": "TEXT"}``: raise ``RuntimeError(TEXT)`` out of the handler.
- ``{"stop": true}``: raise ``StopConsumer``: the application returns without closing.
"""

import asyncio
import json
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import AsyncConsumer, SyncConsumer
from channels.exceptions import StopConsumer

from . import probe_log
from .live import Counted

COMMAND_PREFIX = "probe:"
MAX_SLEEP_S = 30.0
DEFAULT_SCRIPT: dict[str, list[dict[str, Any]]] = {
    "connect": [{"send": {"type": "websocket.accept"}}],
    "receive": [{"echo": True}],
    "disconnect": [],
}


class ScriptError(ValueError):
    """The client's script is not valid."""


def decode(value: Any) -> Any:
    """``value`` with every ``{"$hex": ...}`` replaced by the bytes it names."""
    if isinstance(value, dict):
        if set(value) == {"$hex"}:
            return bytes.fromhex(value["$hex"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def read_script(scope: dict) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    """The probe id and script from the query string (defaults filled in)."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    probe_id = query.get("id", [uuid.uuid4().hex])[0]
    script = dict(DEFAULT_SCRIPT)
    if "script" in query:
        try:
            given = json.loads(query["script"][0])
        except json.JSONDecodeError as exc:
            raise ScriptError(f"script is not JSON: {exc}") from exc
        if not isinstance(given, dict) or set(given) - set(DEFAULT_SCRIPT):
            raise ScriptError("script must map connect, receive, disconnect to action lists")
        script.update(given)
    return probe_id, script


def actions_for(script: dict, event: dict) -> list[dict[str, Any]]:
    """The actions a received ``event`` triggers."""
    kind = event.get("type")
    if kind == "websocket.receive":
        text = event.get("text")
        if isinstance(text, str) and text.startswith(COMMAND_PREFIX):
            actions = json.loads(text[len(COMMAND_PREFIX) :])
            if not isinstance(actions, list):
                raise ScriptError("a probe: command is a JSON list of actions")
            return actions
        return script["receive"]
    if kind == "websocket.connect":
        return script["connect"]
    if kind == "websocket.disconnect":
        return script["disconnect"]
    return []


def resolve(action: dict[str, Any], event: dict) -> tuple[str, Any]:
    """What an action does: ``("send", event)``, ``("sleep", s)``, ``("raise", text)``
    or ``("stop", None)``."""
    if "send" in action:
        return "send", decode(action["send"])
    if action.get("echo"):
        message = {k: event[k] for k in ("text", "bytes") if k in event}
        return "send", {"type": "websocket.send", **message}
    if "sleep" in action:
        return "sleep", min(max(float(action["sleep"]), 0.0), MAX_SLEEP_S)
    if "raise" in action:
        return "raise", str(action["raise"])
    if action.get("stop"):
        return "stop", None
    raise ScriptError(f"unknown action {action!r}")


def script_failure(error: ScriptError) -> dict:
    """The event that ends a connection whose script is broken (code 4400)."""
    return {"type": "websocket.close", "code": 4400, "reason": f"probe script: {error}"[:120]}


class SyncProbeConsumer(Counted, SyncConsumer):
    """The probe as a :class:`SyncConsumer`: handlers run in a thread pool."""

    def websocket_connect(self, event):
        try:
            self.probe_id, self.script = read_script(self.scope)
        except ScriptError as exc:
            self.probe_id, self.script = uuid.uuid4().hex, {"connect": [], "receive": []}
            self.send(script_failure(exc))
            return
        probe_log.start(self.probe_id, self.scope)
        self.handle(event)

    def websocket_receive(self, event):
        self.handle(event)

    def websocket_disconnect(self, event):
        self.handle(event)
        probe_log.finished(self.probe_id, "disconnect")
        raise StopConsumer()

    def handle(self, event: dict) -> None:
        probe_log.received(self.probe_id, event)
        try:
            actions = actions_for(self.script, event)
            steps = [resolve(action, event) for action in actions]
        except (ScriptError, ValueError) as exc:
            self.send(script_failure(ScriptError(str(exc))))
            return
        for what, arg in steps:
            if what == "send":
                try:
                    self.send(arg)
                except Exception as exc:
                    probe_log.send_failed(self.probe_id, arg, exc)
                else:
                    probe_log.sent(self.probe_id, arg)
            elif what == "sleep":
                time.sleep(arg)
            elif what == "raise":
                probe_log.finished(self.probe_id, "raise")
                raise RuntimeError(arg)
            else:
                probe_log.finished(self.probe_id, "stop")
                raise StopConsumer()


class AsyncProbeConsumer(Counted, AsyncConsumer):
    """The probe as an :class:`AsyncConsumer`: handlers run on the event loop."""

    async def websocket_connect(self, event):
        try:
            self.probe_id, self.script = read_script(self.scope)
        except ScriptError as exc:
            self.probe_id, self.script = uuid.uuid4().hex, {"connect": [], "receive": []}
            await self.send(script_failure(exc))
            return
        probe_log.start(self.probe_id, self.scope)
        await self.handle(event)

    async def websocket_receive(self, event):
        await self.handle(event)

    async def websocket_disconnect(self, event):
        await self.handle(event)
        probe_log.finished(self.probe_id, "disconnect")
        raise StopConsumer()

    async def handle(self, event: dict) -> None:
        probe_log.received(self.probe_id, event)
        try:
            actions = actions_for(self.script, event)
            steps = [resolve(action, event) for action in actions]
        except (ScriptError, ValueError) as exc:
            await self.send(script_failure(ScriptError(str(exc))))
            return
        for what, arg in steps:
            if what == "send":
                try:
                    await self.send(arg)
                except Exception as exc:
                    probe_log.send_failed(self.probe_id, arg, exc)
                else:
                    probe_log.sent(self.probe_id, arg)
            elif what == "sleep":
                await asyncio.sleep(arg)
            elif what == "raise":
                probe_log.finished(self.probe_id, "raise")
                raise RuntimeError(arg)
            else:
                probe_log.finished(self.probe_id, "stop")
                raise StopConsumer()
