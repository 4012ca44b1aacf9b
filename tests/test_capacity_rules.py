"""The capacity run's rules, without servers: the pace, the levels, the source
addresses, which limit a level reached and how the server met it."""

from __future__ import annotations

import dataclasses

import pytest

from channels_harness.experiments.capacity.burst import burst_row, verdict
from channels_harness.experiments.capacity.holders import merge_open, processes_needed, split
from channels_harness.experiments.capacity.limit import (
    LevelEvidence,
    Limit,
    behaviour,
    decide,
)
from channels_harness.experiments.capacity.plan import CapacityPlan
from channels_harness.generators.engine.hold import (
    Attempts,
    BurstReport,
    CanaryReport,
    OpenReport,
    SweepReport,
)
from channels_harness.generators.engine.idle import loopback_sources
from channels_harness.generators.engine.pacer import Pacer
from channels_harness.runtime import stats
from channels_harness.servers.process import ServerProcess
from channels_harness.servers.registry import get_spec


def pacer(rate: float = 100.0) -> Pacer:
    return Pacer(rate=rate, min_rate=5.0, max_rate=400.0, target_latency_s=0.25)


class TestPacer:
    def test_the_rate_grows_while_handshakes_are_quick(self) -> None:
        pace = pacer()
        assert pace.adjust([0.01] * 20, failures=0, oldest_waiting_s=0.0) == pytest.approx(125)

    def test_the_rate_halves_on_one_failure(self) -> None:
        assert pacer().adjust([0.01] * 20, failures=1, oldest_waiting_s=0.0) == 50

    def test_the_rate_halves_when_the_slow_handshakes_pass_the_target(self) -> None:
        assert pacer().adjust([0.01] * 8 + [0.5] * 2, failures=0, oldest_waiting_s=0.0) == 50

    def test_a_handshake_still_waiting_past_the_target_slows_the_pace(self) -> None:
        assert pacer().adjust([], failures=0, oldest_waiting_s=1.0) == 50

    def test_an_empty_window_leaves_the_rate_alone(self) -> None:
        assert pacer().adjust([], failures=0, oldest_waiting_s=0.0) == 100

    def test_the_rate_stays_between_its_bounds(self) -> None:
        fast, slow = pacer(390), pacer(6)
        assert fast.adjust([0.01], 0, 0.0) == 400
        assert slow.adjust([], 3, 0.0) == 5


class TestSeveralGenerators:
    def test_as_many_processes_as_the_open_file_limit_needs(self) -> None:
        assert processes_needed(50_024, nofile=20_000) == 3
        assert processes_needed(10_024, nofile=65_536) == 1

    def test_connections_split_evenly(self) -> None:
        assert split(10, 3) == [4, 3, 3]
        assert sum(split(50_000, 3)) == 50_000

    def test_open_reports_merge_counts_and_latency(self) -> None:
        def report(opened: int, ms: float, stopped: str) -> OpenReport:
            histogram = stats.new_histogram()
            for _ in range(opened):
                stats.record_us(histogram, ms * 1000)
            return OpenReport(
                target=opened,
                held=opened,
                opened=opened,
                failed=1,
                failures={"timeout": 1},
                stopped=stopped,
                elapsed_s=2.0,
                histogram=stats.encode(histogram),
            )

        merged = merge_open([report(90, 10.0, "target"), report(10, 500.0, "failures")], 100)
        assert (merged.held, merged.failed, merged.failures) == (100, 2, {"timeout": 2})
        assert merged.stopped == "failures" and merged.accept_rate == 50.0
        assert merged.handshake_p50_ms == pytest.approx(10, rel=0.01)
        assert merged.handshake_max_ms == pytest.approx(500, rel=0.01)


def attempts(pattern: str) -> Attempts:
    """Attempts in order: ``o`` one opened, ``x`` one failed."""
    result = Attempts()
    for mark in pattern:
        if mark == "x":
            result.fail(TimeoutError())
        else:
            result.opened += 1
            result.in_a_row = 0
    return result


class TestPersistentFailures:
    def test_twenty_failures_in_a_row_are_the_servers_answer(self) -> None:
        assert attempts("o" * 500 + "x" * 20).persistent(20)

    def test_sporadic_failures_under_load_are_not(self) -> None:
        assert not attempts(("o" * 90 + "x") * 20).persistent(20)

    def test_failures_making_a_tenth_of_the_attempts_are(self) -> None:
        assert attempts(("o" * 3 + "x") * 25).persistent(20)


class TestPlan:
    def test_levels_end_at_the_maximum(self) -> None:
        assert CapacityPlan(max_connections=10_000, step=5000).levels() == [5000, 10_000]
        assert CapacityPlan(max_connections=1000, step=300).levels() == [300, 600, 900, 1000]
        assert CapacityPlan(max_connections=50_000).levels()[:2] == [2500, 5000]

    def test_enough_source_addresses_for_the_connections_and_the_largest_burst(self) -> None:
        plan = CapacityPlan(max_connections=50_000, bursts=(100, 5000))
        assert plan.source_count(ports_per_address=28_232) == 3
        assert CapacityPlan(max_connections=1000).source_count(28_232) == 1

    def test_no_source_addresses_off_ipv4_loopback(self) -> None:
        assert CapacityPlan(host="::1").source_count(28_232) == 0

    def test_source_addresses_follow_127_0_0_1(self) -> None:
        assert loopback_sources(3) == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]


def evidence(
    *,
    held: int = 1000,
    failed: int = 0,
    failures: dict[str, int] | None = None,
    stopped: str = "target",
    rate: float = 500.0,
    dropped: int = 0,
    unanswered: int = 0,
    canary_errors: int = 0,
    server_exit: int | None = None,
    rss: int = 100 * 2**20,
    fds: int = 1020,
    nofile: int = 65_536,
) -> LevelEvidence:
    return LevelEvidence(
        level=1000,
        opened=OpenReport(
            target=1000,
            held=held,
            opened=held,
            failed=failed,
            failures=failures or {},
            dropped_total=dropped,
            stopped=stopped,
            accept_rate=rate,
        ),
        sweep=SweepReport(
            pinged=held,
            answered=held - unanswered,
            unanswered=unanswered,
            lost=0,
            held=held,
            dropped_total=dropped,
        ),
        canary=CanaryReport(sent=100, answered=100 - canary_errors, errors=canary_errors),
        dropped_before=0,
        server_exit=server_exit,
        rss_bytes=rss,
        open_fds=fds,
        nofile=nofile,
    )


def limit_of(ev: LevelEvidence, memory_budget: int | None = None) -> Limit | None:
    return decide(ev, min_accept_rate=10.0, memory_budget=memory_budget)


class TestWhichLimit:
    def test_a_healthy_level_climbs_on(self) -> None:
        assert limit_of(evidence()) is None

    @pytest.mark.parametrize(
        ("ev", "kind"),
        [
            (evidence(server_exit=-9), "died"),
            (evidence(dropped=3), "dropped"),
            (evidence(failed=20, failures={"refused": 20}, stopped="failures"), "refused"),
            (
                evidence(failed=25, failures={"reset": 25}, stopped="failures", fds=65_530),
                "fd-limit",
            ),
            (evidence(unanswered=1), "unresponsive"),
            (evidence(canary_errors=1), "unresponsive"),
            (evidence(rate=4.0), "slow-accept"),
        ],
    )
    def test_the_servers_own_limits(self, ev: LevelEvidence, kind: str) -> None:
        limit = limit_of(ev)
        assert limit is not None and (limit.kind, limit.side) == (kind, "server")

    def test_descriptors_capped_by_the_machines_hard_limit_are_the_machines(self) -> None:
        ev = dataclasses.replace(
            evidence(failed=25, failures={"reset": 25}, stopped="failures", fds=20_000),
            nofile=20_000,
            machine_nofile=20_000,
        )
        limit = limit_of(ev)
        assert limit is not None and (limit.kind, limit.side) == ("fd-limit", "machine")

    def test_a_server_given_a_lower_limit_than_the_machine_allows_is_its_own(self) -> None:
        ev = dataclasses.replace(
            evidence(failed=25, failures={"reset": 25}, stopped="failures", fds=250),
            nofile=250,
            machine_nofile=20_000,
        )
        limit = limit_of(ev)
        assert limit is not None and (limit.kind, limit.side) == ("fd-limit", "server")

    def test_memory_is_the_machines_limit(self) -> None:
        limit = limit_of(evidence(rss=2 * 2**30), memory_budget=2**30)
        assert limit is not None and (limit.kind, limit.side) == ("memory", "machine")

    def test_the_time_budget_and_the_generator_are_the_experiments(self) -> None:
        out_of_time = limit_of(evidence(held=700, stopped="deadline"))
        client = limit_of(evidence(failures={"client out of ports": 1}, stopped="client"))
        assert out_of_time is not None and (out_of_time.kind, out_of_time.side) == (
            "time budget",
            "experiment",
        )
        assert client is not None and (client.kind, client.side) == ("generator", "experiment")

    def test_the_server_is_blamed_before_the_time_budget(self) -> None:
        limit = limit_of(evidence(stopped="deadline", dropped=1))
        assert limit is not None and limit.kind == "dropped"

    @pytest.mark.parametrize(
        ("server", "kind"),
        [
            ({"server_exit": -9}, "died"),
            ({"dropped": 5}, "dropped"),
            ({"unanswered": 3}, "unresponsive"),
        ],
    )
    def test_the_server_is_blamed_before_the_generator_that_ran_out_with_it(
        self, server: dict[str, int], kind: str
    ) -> None:
        ran_out = {"failures": {"client out of descriptors": 4}, "stopped": "client"}
        limit = limit_of(evidence(**ran_out, **server))  # type: ignore[arg-type]
        assert limit is not None and (limit.kind, limit.side) == (kind, "server")
        alone = limit_of(evidence(**ran_out))  # type: ignore[arg-type]
        assert alone is not None and (alone.kind, alone.side) == ("generator", "experiment")

    def test_a_few_failures_below_the_limit_do_not_stop_the_climb(self) -> None:
        assert limit_of(evidence(failed=3, failures={"timeout": 3})) is None


class TestBehaviourAtTheLimit:
    refused = Limit("refused", "")

    def test_a_dead_server_dies(self) -> None:
        assert behaviour(self.refused, False, 0, 0, {}, True) == "dies"

    def test_clean_refusals_with_healthy_connections_refuse_cleanly(self) -> None:
        assert behaviour(self.refused, True, 0, 0, {"refused": 20}, True) == "refuses cleanly"

    def test_timeouts_with_healthy_connections_stop_accepting(self) -> None:
        assert behaviour(self.refused, True, 0, 0, {"timeout": 20}, True) == "stops accepting"

    def test_unanswered_held_connections_stall(self) -> None:
        assert behaviour(self.refused, True, 0, 0, {"timeout": 20}, False) == "stalls"

    def test_dropped_connections_are_dropped(self) -> None:
        assert behaviour(self.refused, True, 4, 0, {}, True) == "drops connections"

    def test_the_generators_own_failures_say_nothing_about_the_server(self) -> None:
        failures = {"client out of descriptors": 12, "reset": 8}
        assert behaviour(self.refused, True, 0, 0, failures, True) == "refuses cleanly"

    def test_a_server_that_still_accepts_keeps_accepting(self) -> None:
        assert behaviour(Limit("memory", ""), True, 0, 20, {}, True) == "keeps accepting"

    def test_the_experiments_limits_are_not_the_servers(self) -> None:
        assert behaviour(Limit("target", ""), True, 0, 0, {}, True) == "no server limit reached"


class TestBurstVerdict:
    def burst(self, **fields: object) -> BurstReport:
        base: dict[str, object] = {"count": 100, "opened": 100, "failed": 0, "max_ms": 50.0}
        return BurstReport.from_json({**base, **fields})

    def test_verdicts_from_worst_to_best(self) -> None:
        failed = self.burst(failed=1, opened=99, failures={"timeout": 1})
        assert verdict(failed) == "handshakes failed"
        assert verdict(failed, leaked=3) == "handshakes failed"
        assert verdict(self.burst(), leaked=3) == "consumers leaked"
        assert verdict(self.burst(retransmitted=3, retransmits=3)) == "retransmits"
        assert verdict(self.burst(max_ms=1500.0)) == "slow"
        assert verdict(self.burst(), leaked=0) == verdict(self.burst()) == "clean"

    def test_the_generators_own_failures_are_not_the_servers_failed_handshakes(self) -> None:
        ports = self.burst(failed=7, opened=93, failures={"client out of ports": 5, "refused": 2})
        row = burst_row(self.server(), CapacityPlan(), "", ports, self.counters(), 50, 0)
        assert (row.failed, row.client_failed, row.verdict) == (2, 5, "handshakes failed")
        only_ours = self.burst(failed=5, opened=95, failures={"client out of descriptors": 5})
        row = burst_row(self.server(), CapacityPlan(), "", only_ours, self.counters(), 50, 0)
        assert (row.failed, row.client_failed, row.verdict) == (0, 5, "generator-limited")
        assert row.live_consumers_after == 0

    def server(self) -> ServerProcess:
        return ServerProcess(get_spec("uvicorn"))

    def counters(self) -> dict[str, int | None]:
        names = ("ListenOverflows", "ListenDrops", "TCPSynRetrans", "SyncookiesSent")
        return dict.fromkeys(names, 0)


def test_a_server_with_worker_processes_is_launched_and_named_so() -> None:
    from channels_harness.errors import UsageError
    from channels_harness.servers.registry import get_spec

    spec = get_spec("uvicorn").with_workers(3)
    assert spec.name == "uvicorn (3 workers)"
    assert spec.command("a:b", "127.0.0.1", 8000)[-2:] == ["--workers", "3"]
    assert get_spec("uvicorn").with_workers(1) == get_spec("uvicorn")
    with pytest.raises(UsageError, match="daphne runs one process"):
        get_spec("daphne").with_workers(2)


def test_descriptor_capacity_counts_the_processes_holding_connections() -> None:
    from channels_harness.experiments.capacity.climb import descriptor_capacity

    # An idle tree: every process counts.
    assert descriptor_capacity([(12, 20_000), (40, 20_000)]) == 40_000
    # A supervisor beside a full worker (hypercorn, granian): only the worker.
    assert descriptor_capacity([(12, 20_000), (19_990, 20_000)]) == 20_000
    # Three uvicorn workers filling up behind their supervisor.
    assert descriptor_capacity([(15, 20_000), *[(16_700, 20_000)] * 3]) == 60_000
    assert descriptor_capacity([]) is None
