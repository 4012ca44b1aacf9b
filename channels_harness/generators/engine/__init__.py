"""The measurement engine: a load generator that is provably not the bottleneck.

picows connections on uvloop (:mod:`.client`) in a closed loop
(:mod:`.closed`, peak throughput), an open loop (:mod:`.openloop`, fixed rate,
latency from the intended send time), a handshake churn (:mod:`.churn`) and
idle connections (:mod:`.idle`); :func:`run_load` runs any of them in one or
more pinned generator processes (:mod:`.worker`) and merges their
HdrHistograms, and :mod:`.spread` does the same over several targets. The
fan-out (:mod:`.fanout`) and the soak's mixed load (:mod:`.soak`) are
programs of their own, run by :mod:`channels_harness.generators.launcher`.
"""

from channels_harness.errors import GeneratorError
from channels_harness.generators.engine.client import GENERATOR_NAME, Payload, payload
from channels_harness.generators.engine.driver import LoadResult, run_load
from channels_harness.generators.engine.idle import IdleOutcome, hold_idle, raise_nofile_limit
from channels_harness.generators.engine.result import LoadConfig, WorkerResult
from channels_harness.generators.engine.worker import run_one

__all__ = [
    "GENERATOR_NAME",
    "GeneratorError",
    "IdleOutcome",
    "LoadConfig",
    "LoadResult",
    "Payload",
    "WorkerResult",
    "hold_idle",
    "payload",
    "raise_nofile_limit",
    "run_load",
    "run_one",
]
