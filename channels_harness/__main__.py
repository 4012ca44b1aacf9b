"""``python -m channels_harness``: the same as the ``channels-harness`` command."""

import sys

from channels_harness.cli import main

sys.exit(main())
