"""Create the embedded SQLite database when a server starts.

Several server processes (workers) may load the application at once, so the
migration runs under an exclusive file lock beside the database file.
"""

import fcntl
from pathlib import Path

from django.conf import settings
from django.core.management import call_command


def ensure_database() -> None:
    """Apply migrations to the default database if ``AUTO_MIGRATE`` is set."""
    if not settings.AUTO_MIGRATE:
        return
    db_path = Path(settings.DATABASES["default"]["NAME"])
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with open(db_path.with_name(db_path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            call_command("migrate", interactive=False, verbosity=0)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
