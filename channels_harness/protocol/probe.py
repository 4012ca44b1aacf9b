"""Client side of the reference app's probe consumers.

Builds probe URLs with a script (see ``target_app/wsapp/probe.py`` for the
script language) and reads back, over the app's HTTP side, what the consumer
received, sent and raised.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
import uuid
from typing import Any
from urllib.parse import urlencode

from channels_harness.runtime.timeouts import scaled

# The probe consumer exists in the two raw flavours of the reference app only.
PROBE_FLAVOURS = ("sync", "async")


def hexbytes(data: bytes) -> dict[str, str]:
    """How a script writes bytes: ``{"$hex": "..."}``."""
    return {"$hex": data.hex()}


def new_id() -> str:
    return uuid.uuid4().hex


def probe_path(flavour: str, probe_id: str, script: dict[str, Any] | None = None) -> str:
    """The path (with query) of a probe connection running ``script``."""
    if flavour not in PROBE_FLAVOURS:
        raise ValueError(f"probe flavour must be one of {PROBE_FLAVOURS}, not {flavour!r}")
    query = {"id": probe_id}
    if script is not None:
        query["script"] = json.dumps(script, separators=(",", ":"))
    return f"/ws/probe/{flavour}/?{urlencode(query)}"


def fetch_record(
    base_http_url: str,
    probe_id: str,
    *,
    wait_exit: bool = True,
    timeout: float = 5.0,
    ssl_context: ssl.SSLContext | None = None,
) -> dict[str, Any]:
    """The probe record of ``probe_id``; with ``wait_exit``, polls until the consumer
    has ended (or ``timeout`` scaled passes, then returns what is there).
    ``ssl_context`` is the trust for an https:// base URL."""
    url = f"{base_http_url.rstrip('/')}/probe/{probe_id}/"
    deadline = time.monotonic() + scaled(timeout)
    record: dict[str, Any] | None = None
    while True:
        try:
            with urllib.request.urlopen(url, timeout=scaled(2.0), context=ssl_context) as response:
                record = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise
        if record is not None and (not wait_exit or record.get("exit") is not None):
            return record
        if time.monotonic() > deadline:
            if record is None:
                raise LookupError(f"no probe record {probe_id} at {url}")
            return record
        time.sleep(0.02)


def decode_hex(value: Any) -> Any:
    """A recorded value with ``{"$hex": ...}`` turned back into bytes."""
    if isinstance(value, dict):
        if set(value) == {"$hex"}:
            return bytes.fromhex(value["$hex"])
        return {k: decode_hex(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_hex(v) for v in value]
    return value


def received_events(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The ASGI events the consumer received, in order, bytes decoded."""
    return [decode_hex(entry["received"]) for entry in record["log"] if "received" in entry]
