"""Load and conformance harness for Django Channels WebSocket apps.

The package is organised by role, and dependencies point down:
:mod:`.cli` and :mod:`.commands` (and the pytest plugin in :mod:`.testing`)
-> :mod:`.experiments` -> :mod:`.generators`, :mod:`.servers`, :mod:`.report`
-> :mod:`.protocol` -> :mod:`.runtime` -> :mod:`.errors`. The import-linter
contracts in pyproject.toml keep it so.
"""

__version__ = "0.1.0"
