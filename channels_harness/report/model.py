"""One run of the harness = one folder under ``results/`` with a ``data.json``.

:class:`Run` is the results model every producer writes into: conformance
rows, throughput cells, locust stats, handshake, memory and breakdown rows.
Every change is saved at once and atomically (temporary file, then rename), so
an interrupted run keeps every finished row and never leaves a half-written
file; :meth:`Run.finish` marks it complete, anything else leaves it
``incomplete``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import socket
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from channels_harness.errors import UsageError
from channels_harness.report.rows import SECTIONS, FailureRow, R, Row, rows_of
from channels_harness.report.schema import SCHEMA_VERSION
from channels_harness.runtime.environment import describe
from channels_harness.runtime.paths import RESULTS_DIR


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.name}.")
    os.fchmod(fd, _FILE_MODE)  # mkstemp makes 0600; published files are readable
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_atomic_bytes(path: Path, data: bytes) -> None:
    """Binary twin of :func:`write_atomic` (plots)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.name}.")
    os.fchmod(fd, _FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def new_run_id(now: dt.datetime | None = None, host: str | None = None) -> str:
    """``20261125T101500Z-host``: sorts by time, says where it ran."""
    now = now or dt.datetime.now(dt.UTC)
    host = re.sub(r"[^A-Za-z0-9-]+", "-", host or socket.gethostname()).strip("-")[:40]
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{host or 'host'}"


def dumps(data: dict[str, Any]) -> str:
    """``data`` as data.json's text: one key per line at the top, and in every
    section one row per line (a row is a compact JSON object), so a published
    run stays small and a diff of two runs shows the rows that changed."""
    parts = []
    for key, value in data.items():
        name = json.dumps(key)
        if isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
            rows = ",\n".join("  " + json.dumps(row, separators=(",", ":")) for row in value)
            parts.append(f" {name}: [\n{rows}\n ]")
        else:
            text = json.dumps(value, indent=1).replace("\n", "\n ")
            parts.append(f" {name}: {text}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


class Run:
    """A run folder and its ``data.json``, saved after every change."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    # -- creating and loading -------------------------------------------------

    @classmethod
    def create(
        cls,
        results_dir: Path = RESULTS_DIR,
        *,
        kind: str = "all",
        options: dict[str, Any] | None = None,
        command: list[str] | None = None,
        run_id: str | None = None,
    ) -> Run:
        """Make ``results_dir/<run-id>/`` with an ``incomplete`` data.json."""
        run_id = run_id or new_run_id()
        path = Path(results_dir) / run_id
        suffix = 1
        while path.exists():
            suffix += 1
            path = Path(results_dir) / f"{run_id}-{suffix}"
        path.mkdir(parents=True)
        data: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "run_id": path.name,
            "kind": kind,
            "status": "incomplete",
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "finished": None,
            "command": command if command is not None else [Path(sys.argv[0]).name, *sys.argv[1:]],
            "options": options or {},
            "environment": describe(),
            "servers": {},
            "notes": [],
            **{section: [] for section in SECTIONS},
        }
        run = cls(path, data)
        run.save()
        return run

    @classmethod
    def load(cls, path: Path) -> Run:
        """Open an existing run folder (or its data.json)."""
        path = Path(path)
        if path.is_file():
            path = path.parent
        data_file = path / "data.json"
        if not data_file.exists():
            raise FileNotFoundError(f"{data_file} does not exist: not a run folder")
        data = json.loads(data_file.read_text(encoding="utf-8"))
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(f"{data_file} has schema version {version}, expected {SCHEMA_VERSION}")
        for section in SECTIONS:
            data.setdefault(section, [])
        return cls(path, data)

    # -- writing ---------------------------------------------------------------

    @property
    def data_file(self) -> Path:
        return self.path / "data.json"

    def save(self) -> None:
        write_atomic(self.data_file, dumps(self.data))

    def add(self, row: Row) -> None:
        """Append ``row`` to its section and save."""
        self.extend([row])

    def extend(self, rows: Sequence[Row]) -> None:
        """Append ``rows`` (each to its own section) and save once."""
        for row in rows:
            self.data[row.SECTION].append(row.to_json())
        self.save()

    def rows(self, kind: type[R]) -> list[R]:
        """The rows of ``kind``'s section so far, typed."""
        return rows_of(self.data, kind)

    def record_server(self, info: dict[str, Any]) -> None:
        """Remember a server's version and command line (keyed by server name)."""
        self.data["servers"][info["name"]] = info
        self.save()

    def note(self, text: str) -> None:
        self.data["notes"].append(text)
        self.save()

    def fail(self, section: str, cell: dict[str, Any], message: str, log_tail: str = "") -> None:
        """Record a cell that could not be measured (it stays out of the figures)."""
        self.add(FailureRow(section=section, cell=cell, message=message, log_tail=log_tail))

    def finish(self, status: str = "complete") -> None:
        """Mark the run ``complete`` (or ``incomplete``) with its end time, and save."""
        self.data["status"] = status
        self.data["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self.save()

    @contextlib.contextmanager
    def recording(self) -> Iterator[Run]:
        """``with run.recording():`` finishes the run as complete on success and as
        incomplete on any exception, Ctrl-C included, then re-raises."""
        try:
            yield self
        except BaseException:
            self.finish("incomplete")
            raise
        self.finish("complete")


def load_valid(text: str | Path) -> Run:
    """The run ``text`` names (a folder, its data.json, or a run id under results/),
    checked against the schema; :class:`~channels_harness.errors.UsageError` with one
    line saying what is wrong otherwise."""
    import jsonschema

    from channels_harness.report.schema import validate

    path = Path(text)
    if path.name == "data.json":
        path = path.parent
    if not path.exists() and (RESULTS_DIR / str(text)).exists():
        path = RESULTS_DIR / str(text)
    if not (path / "data.json").is_file():
        raise UsageError(f"{text} is not a run folder (no data.json there)")
    try:
        run = Run.load(path)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path / 'data.json'} is not valid JSON: {exc}") from None
    except ValueError as exc:
        raise UsageError(f"{exc}; re-run it with this version of the harness") from None
    try:
        validate(run.data)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the document"
        raise UsageError(
            f"{path / 'data.json'} does not match the schema at {where}: {exc.message}"
        ) from None
    return run
