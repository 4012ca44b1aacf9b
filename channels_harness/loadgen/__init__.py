"""The measurement engine: a load generator that is provably not the bottleneck.

picows connections on uvloop (:mod:`.client`) in a closed loop
(:mod:`.closed`, peak throughput), an open loop (:mod:`.openloop`, fixed rate,
latency from the intended send time), a handshake churn (:mod:`.churn`) and
idle connections (:mod:`.idle`); :func:`run_load` runs any of them in one or
more pinned generator processes and merges their HdrHistograms.
"""

from .client import GENERATOR_NAME, Payload, payload
from .driver import GeneratorError, LoadResult, run_load
from .idle import IdleOutcome, hold_idle, raise_nofile_limit
from .result import LoadConfig, WorkerResult
from .worker import run_one

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
