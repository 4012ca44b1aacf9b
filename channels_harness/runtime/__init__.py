"""What every other part stands on: the one process spawner (:mod:`.procgroup`),
core pinning, CPU accounting, scalable timeouts, where files live, the
environment a result records, the loopback guard and latency statistics.

Nothing here knows about servers, generators, experiments or reports.
"""
