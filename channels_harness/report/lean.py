"""Keep a published run folder small: what re-renders the report and what a
reader needs, nothing bulky.

A run folder keeps ``data.json`` (every figure), ``report.md``, ``report.html``,
the plots and flame graphs, and the small logs experiments leave beside them.
:func:`slim` removes or packs the bulky rest: locust's own interactive HTML
pages (about 1 MB per cell, and every figure in them is in data.json), the
conformance ``matrix.json`` and ``matrix.md`` (the same rows as data.json's
conformance section, shown by report.md), and keeps only the tail of any log
longer than :data:`LOG_TAIL_BYTES`. The raw files locust wrote per cell (its
final JSON statistics, CSVs and log) are packed into one ``locust.tar.gz``
(``tar xzf locust.tar.gz`` gives the folder back), written the same way for the
same files. What is left over :data:`BUDGET_BYTES` is reported.
"""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

BUDGET_BYTES = 3 * 1024 * 1024
LOG_TAIL_BYTES = 32 * 1024
KEPT_HTML = "report.html"
# Folders of raw per-cell files, each packed into FOLDER.tar.gz.
PACKED = ("locust",)
TRIM_MARK = b"[... earlier lines trimmed by channels-harness to keep the run folder small ...]\n"


@dataclass
class Slimmed:
    """What :func:`slim` did, and the folder's size afterwards."""

    removed: list[Path] = field(default_factory=list)
    trimmed: list[Path] = field(default_factory=list)
    packed: list[Path] = field(default_factory=list)
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
    if path.parent.name != "conformance":
        return False
    return path.name == "matrix.json" or (
        path.name == "matrix.md" and (folder / "report.md").exists()
    )


def pack(source: Path) -> Path:
    """Pack the folder ``source`` into ``source``.tar.gz beside it and remove it.

    The archive depends only on the files' names and contents (sorted, no
    times or owners), so packing the same files again gives the same bytes.
    """
    target = source.with_name(source.name + ".tar.gz")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            info = tarfile.TarInfo(str(path.relative_to(source.parent)))
            info.size = path.stat().st_size
            info.mode = 0o644
            with open(path, "rb") as data:
                archive.addfile(info, data)
    target.write_bytes(gzip.compress(buffer.getvalue(), compresslevel=9, mtime=0))
    shutil.rmtree(source)
    return target


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
    for name in PACKED:
        if (folder / name).is_dir():
            done.packed.append(pack(folder / name))
    done.size_bytes = folder_size(folder)
    return done
