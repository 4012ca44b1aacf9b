"""Keep a published run folder small: what re-renders the report and what a
reader needs, nothing bulky.

A run folder keeps ``data.json`` (every figure), ``report.md``, ``report.html``,
the plots, and the small files experiments leave beside them (locust's final
JSON statistics, the conformance matrix in Markdown). :func:`slim` removes the
bulky rest: locust's own interactive HTML pages (about 1 MB per cell, and every
figure in them is in data.json), the conformance ``matrix.json`` (the same rows
as data.json's conformance section), and keeps only the tail of any log longer
than :data:`LOG_TAIL_BYTES`. What is left over :data:`BUDGET_BYTES` is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

BUDGET_BYTES = 3 * 1024 * 1024
LOG_TAIL_BYTES = 32 * 1024
KEPT_HTML = "report.html"
TRIM_MARK = b"[... earlier lines trimmed by channels-harness to keep the run folder small ...]\n"


@dataclass
class Slimmed:
    """What :func:`slim` did, and the folder's size afterwards."""

    removed: list[Path] = field(default_factory=list)
    trimmed: list[Path] = field(default_factory=list)
    size_bytes: int = 0

    @property
    def over_budget(self) -> bool:
        return self.size_bytes > BUDGET_BYTES


def folder_size(folder: Path) -> int:
    """Bytes of every file under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _bulky(path: Path, folder: Path) -> bool:
    if path.suffix == ".html":
        return path != folder / KEPT_HTML
    return path.name == "matrix.json" and path.parent.name == "conformance"


def _trim_log(path: Path) -> bool:
    size = path.stat().st_size
    if size <= LOG_TAIL_BYTES:
        return False
    with open(path, "rb") as log:
        log.seek(size - LOG_TAIL_BYTES)
        tail = log.read()
    newline = tail.find(b"\n")
    path.write_bytes(TRIM_MARK + (tail[newline + 1 :] if newline >= 0 else tail))
    return True


def slim(folder: Path) -> Slimmed:
    """Remove the bulky files of the run in ``folder`` and trim its long logs."""
    done = Slimmed()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if _bulky(path, folder):
            path.unlink()
            done.removed.append(path)
        elif path.suffix == ".log" and _trim_log(path):
            done.trimmed.append(path)
    done.size_bytes = folder_size(folder)
    return done
