"""pytest-benchmark suites: in-process dispatch cost and the live round trip.

Run ``pytest bench/ --benchmark-autosave`` (then ``--benchmark-compare``); never
under xdist. ``pytest bench/ --benchmark-disable -q`` runs every benchmark once
as a smoke test.

The in-process suites load the reference app's Django settings here, as its
``asgi.py`` does; pytest-benchmark has no async support, so each round drives
an event loop of its own (:func:`run`).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import django
import pytest

from channels_harness.runtime.paths import TARGET_APP_DIR

sys.path.insert(0, str(TARGET_APP_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "refsite.settings")
django.setup()

T = TypeVar("T")

# Messages per benchmark round: one round trip is too short to time alone.
MESSAGES_PER_ROUND = 100


@pytest.fixture(scope="session")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for the session's in-process rounds."""
    event_loop = asyncio.new_event_loop()
    try:
        yield event_loop
    finally:
        event_loop.run_until_complete(event_loop.shutdown_default_executor())
        event_loop.close()


def run(loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion on ``loop`` (what each benchmark round calls)."""
    return loop.run_until_complete(coroutine)
