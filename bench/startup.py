"""How long each registered server takes from spawn to answering GET /healthz/.

A plain experiment, not a test: starts every installed server N times (default
5), one at a time, and prints TSV with units. Run: ``python bench/startup.py [N]``.
"""

from __future__ import annotations

import statistics
import sys

from channels_harness.servers.process import ServerProcess
from channels_harness.servers.registry import SERVERS


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print("server\tversion\tstartup_median_s\tstartup_min_s\tstartup_max_s\truns")
    for name, spec in SERVERS.items():
        if not spec.available():
            continue
        times = []
        for _ in range(repeats):
            with ServerProcess(spec) as server:
                assert server.startup_s is not None
                times.append(server.startup_s)
        print(
            f"{name}\t{spec.version()}\t{statistics.median(times):.3f}\t"
            f"{min(times):.3f}\t{max(times):.3f}\t{repeats}"
        )


if __name__ == "__main__":
    main()
