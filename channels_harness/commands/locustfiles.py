"""Print the folder of the bundled locustfiles, for plain locust.

From a checkout it is the repository's ``locustfiles/``; from an installed
wheel the copy inside the package. So, anywhere::

    locust -f "$(channels-harness locustfiles)" --host ws://127.0.0.1:8000
    locust -f "$(channels-harness locustfiles)/scenario.py" --ws-scenario-file chat.toml
"""

from __future__ import annotations

import argparse

NAME = "locustfiles"
HELP = "print the folder of the bundled locustfiles (for locust -f)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options: the command prints one line."""


def run(args: argparse.Namespace) -> int:
    from channels_harness.runtime.paths import LOCUSTFILES_DIR

    print(LOCUSTFILES_DIR)
    return 0
