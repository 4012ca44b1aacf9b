"""What every other part stands on: the one process spawner (:mod:`.procgroup`),
core pinning, CPU accounting, scalable timeouts, where files live, the
environment a result records, the loopback guard, latency statistics, JSON
records (:mod:`.records`) and comma-separated option values (:mod:`.options`).

Nothing here knows about servers, generators, experiments or reports.
"""
