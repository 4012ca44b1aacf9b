"""What a generator process is asked to do and what it reports back.

Both travel between processes as JSON: :class:`LoadConfig` on the worker's
stdin, :class:`WorkerResult` as the last line of its stdout, the latency
histogram inside it encoded by :func:`channels_harness.runtime.stats.encode`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from channels_harness.protocol.scenario import Scenario
from channels_harness.protocol.traffic import Traffic
from channels_harness.runtime import stats
from channels_harness.runtime.records import Record

if TYPE_CHECKING:
    from hdrh.histogram import HdrHistogram

    from channels_harness.generators.engine.client import Counters
    from channels_harness.generators.engine.conversing import StepMeters

MODES = ("closed", "open", "handshake")

# Awaited once the connections are open and before the measurement starts: the
# multi-process driver uses it to start every generator process at once.
Barrier = Callable[[], Awaitable[None]]


def connect_budget_s(scenario: Scenario, connect_timeout_s: float) -> float:
    """The longest a connection may take to open and finish ``scenario``'s connect
    steps (each bounded by its timeout and think time)."""
    steps = sum(step.timeout_s + step.think[1] for step in scenario.connect)
    return connect_timeout_s + steps


@dataclass(frozen=True)
class LoadConfig(Record):
    """One load run of one generator process.

    - ``closed``: ``connections`` ping-pong as fast as the server answers,
      ``warmup_s`` unmeasured then ``duration_s`` measured; with ``messages``
      set, each connection stops after that many round trips instead (all
      measured, ``duration_s`` still bounds it).
    - ``open``: ``rate`` messages per second in total (this process's share),
      spread over the connections, latency from each message's intended send time.
    - ``handshake``: ``connections`` clients connect, get accepted and close,
      over and over, for ``duration_s`` (or ``messages`` cycles each).

    ``traffic``: the handshake's headers and, for the user's app, the messages
    (None: the reference echo, plain handshakes). ``scenario``: a scenario
    file's conversation (its steps replace the messages; with ``messages`` set
    a connection stops after that many steps). In the handshake mode a cycle
    includes the scenario's connect steps. ``first_conn``: the number of
    this process's first connection (``{conn}`` in messages and URL).
    ``server_pids``: the server's processes; the closed loop and the handshake
    churn then also measure their CPU time and the machine's noise over
    exactly the measured window. ``ca_file``: the certificate authority a
    wss:// URL's server certificate must chain to (None: the system's).
    """

    url: str
    mode: str = "closed"
    connections: int = 50
    payload: str = "32B-text"
    duration_s: float = 3.0
    warmup_s: float = 0.5
    messages: int | None = None
    rate: float | None = None
    connect_timeout_s: float = 10.0
    drain_s: float = 5.0
    traffic: Traffic | None = None
    first_conn: int = 0
    server_pids: list[int] = field(default_factory=list)
    ca_file: str | None = None
    scenario: Scenario | None = None

    def __post_init__(self) -> None:
        if isinstance(self.traffic, dict):
            object.__setattr__(self, "traffic", Traffic.from_json(self.traffic))
        if isinstance(self.scenario, dict):
            object.__setattr__(self, "scenario", Scenario.from_json(self.scenario))
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r} is not one of {MODES}")
        if self.connections < 1:
            raise ValueError("connections must be at least 1")
        if self.mode == "open" and not (self.rate and self.rate > 0):
            raise ValueError("open loop needs a positive rate")
        if self.duration_s <= 0:
            raise ValueError("duration_s must be positive")

    @property
    def converses(self) -> bool:
        """Whether the connections hold a conversation (a scenario file or the
        user's messages) rather than the reference echo."""
        return self.scenario is not None or (self.traffic is not None and not self.traffic.echo)

    @property
    def open_budget_s(self) -> float:
        """The longest opening a connection may take: its handshake and connect steps."""
        if self.scenario is None:
            return self.connect_timeout_s
        return connect_budget_s(self.scenario, self.connect_timeout_s)

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data["scenario"] = self.scenario.to_json() if self.scenario is not None else None
        return data


@dataclass
class StepResult(Record):
    """One step name's figures in one generator process: ``measured`` instances
    ended well inside the window (their latencies in ``histogram``), ``errors``
    instances failed (wrong reply, timeout, connection lost) at any time, and
    ``push_measured`` frames gave a push latency (``push_histogram``); ``begun``
    instances were begun in all (warm-up and drain included, as the errors)."""

    measured: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    histogram: str = ""
    push_measured: int = 0
    push_histogram: str = ""
    begun: int = 0


@dataclass
class WorkerResult(Record):
    """What one generator process measured.

    ``measured`` messages (or handshakes) completed inside the ``window_s``
    measurement window and are the ones in ``histogram``; ``sent`` and
    ``received`` count every message of the run, warm-up and drain included.
    ``cpu`` is the process's CPU over the window as a share of one core, and
    ``cpu_wait`` the share of the window it sat runnable waiting for a CPU.
    ``achieved_rate`` is the open loop's actual send rate (0 otherwise).
    ``unsolicited`` counts messages from the user's app that no step could use
    (not errors: a room broadcasts), and ``other`` the same frames by kind.
    ``steps`` has each step name's own figures (conversations only); then
    ``errors`` counts every error, the steps' and the connections' (a failed
    connect, connect step or a server's CLOSE).
    ``server_cpu_s`` is the CPU the config's ``server_pids`` used in the window
    and ``noise`` the machine's counters over it
    (:class:`channels_harness.runtime.noise.Window` as JSON); both None when
    no server was watched.
    """

    mode: str
    connections: int
    connected: int = 0
    sent: int = 0
    received: int = 0
    measured: int = 0
    window_s: float = 0.0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    cpu: float = 0.0
    cpu_wait: float = 0.0
    histogram: str = ""
    target_rate: float = 0.0
    achieved_rate: float = 0.0
    unsolicited: int = 0
    server_cpu_s: float | None = None
    noise: dict[str, Any] | None = None
    steps: dict[str, StepResult] = field(default_factory=dict)
    other: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.steps = {
            name: StepResult.from_json(step) if isinstance(step, dict) else step
            for name, step in self.steps.items()
        }

    @property
    def rate(self) -> float:
        """Completed messages (or handshakes) per second in the window."""
        return self.measured / self.window_s if self.window_s > 0 else 0.0

    def take(self, counters: Counters, measured: int, histogram: HdrHistogram) -> WorkerResult:
        """Copy in the connections' counters, the measured count and the encoded
        latency histogram; return ``self``."""
        self.sent = counters.sent
        self.received = counters.received
        self.errors = counters.errors
        self.error_samples = counters.error_samples
        self.unsolicited = counters.unsolicited
        self.measured = measured
        self.histogram = stats.encode(histogram)
        return self

    def take_steps(
        self, counters: Counters, meters: StepMeters, other: dict[str, int]
    ) -> WorkerResult:
        """Copy in a conversation's counters (connection errors), every step's
        figures and the other frames by kind; return ``self``. ``measured`` and
        ``histogram`` then hold every step together."""
        self.take(counters, meters.measured, meters.histogram())
        self.steps = meters.results()
        self.errors += sum(step.errors for step in self.steps.values())
        samples = [s for step in self.steps.values() for s in step.error_samples]
        self.error_samples = (self.error_samples + samples)[:5]
        self.other = other
        self.unsolicited = sum(other.values())
        return self
