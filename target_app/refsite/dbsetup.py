"""Create the embedded SQLite database when a server starts.

Several server processes (workers) may load the application at once, so the
migration runs under an exclusive file lock beside the database file.
"""

import asyncio
import fcntl
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.conf import settings
from django.core.management import call_command


def ensure_database() -> None:
    """Apply migrations to the default database if ``AUTO_MIGRATE`` is set.

    Some servers (uvicorn with ``--workers``) import the application inside a
    running event loop, where Django refuses synchronous database work; the
    migration then runs in a short-lived thread of its own.
    """
    if not settings.AUTO_MIGRATE:
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        _migrate()
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="refsite-migrate") as pool:
        pool.submit(_migrate).result()


def _migrate() -> None:
    db_path = Path(settings.DATABASES["default"]["NAME"])
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with open(db_path.with_name(db_path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            call_command("migrate", interactive=False, verbosity=0)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
