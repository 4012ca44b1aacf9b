"""What the probe consumers saw, kept in this process for the HTTP side to read.

Each probe connection has an id chosen by the client (``?id=...``). Its record
holds the ASGI scope as the consumer saw it, every ASGI event it received, every
exception its ``send`` raised, and how the consumer ended. The store keeps the
most recent :data:`MAX_RECORDS` records, so a long load run cannot grow it
without bound.
"""

import threading
import time
from collections import OrderedDict
from typing import Any

MAX_RECORDS = 2000

# Keys that Channels' own middleware and router add to the scope; they are not
# part of what the server sent, and some of them (user, session) are not data.
CHANNELS_SCOPE_KEYS = {"user", "session", "cookies", "url_route", "path_remaining"}

_lock = threading.Lock()
_records: "OrderedDict[str, dict[str, Any]]" = OrderedDict()


def jsonable(value: Any) -> Any:
    """``value`` with bytes as ``{"$hex": ...}``, tuples as lists, others as repr."""
    if isinstance(value, bytes | bytearray):
        return {"$hex": bytes(value).hex()}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return {"$repr": repr(value)}


def start(probe_id: str, scope: dict) -> None:
    """Open the record of ``probe_id`` (replacing an older one of the same id)."""
    server_scope = {k: v for k, v in scope.items() if k not in CHANNELS_SCOPE_KEYS}
    record = {
        "id": probe_id,
        "scope": jsonable(server_scope),
        "started": time.time(),
        "log": [],
        "send_errors": [],
        "exit": None,
    }
    with _lock:
        _records.pop(probe_id, None)
        _records[probe_id] = record
        while len(_records) > MAX_RECORDS:
            _records.popitem(last=False)


def _append(probe_id: str, key: str, entry: dict) -> None:
    with _lock:
        record = _records.get(probe_id)
        if record is not None:
            entry["t"] = round(time.time() - record["started"], 6)
            record[key].append(entry)


def received(probe_id: str, event: dict) -> None:
    """Record an ASGI event the consumer received."""
    _append(probe_id, "log", {"received": jsonable(event)})


def sent(probe_id: str, event: dict) -> None:
    """Record an ASGI event the consumer handed to ``send`` without an error."""
    _append(probe_id, "log", {"sent": jsonable(event)})


def send_failed(probe_id: str, event: dict, error: BaseException) -> None:
    """Record an exception raised by ``send``."""
    entry = {
        "event": jsonable(event),
        "error": f"{type(error).__module__}.{type(error).__qualname__}",
        "message": str(error),
        "is_oserror": isinstance(error, OSError),
    }
    _append(probe_id, "send_errors", entry)
    _append(probe_id, "log", {"send_failed": dict(entry)})


def finished(probe_id: str, how: str) -> None:
    """Record how the consumer ended: ``disconnect``, ``stop`` or ``raise``."""
    with _lock:
        record = _records.get(probe_id)
        if record is not None and record["exit"] is None:
            record["exit"] = {"how": how, "t": round(time.time() - record["started"], 6)}


def get(probe_id: str) -> dict | None:
    """A copy of the record of ``probe_id``, or None."""
    with _lock:
        record = _records.get(probe_id)
        if record is None:
            return None
        return {
            **record,
            "log": list(record["log"]),
            "send_errors": list(record["send_errors"]),
        }
