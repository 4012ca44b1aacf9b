"""What does judging every frame against a scenario cost the engine? Measure it.

Runs the closed loop (N connections, one generator process pinned to the
generator core) against the raw picows echo server (no ASGI, pinned to the
server core) three ways, in interleaved rounds so the machine's drift hits
all three alike:

- ``echo``: the plain echo path (a reply is matched by its size);
- ``json``: a trivial JSON scenario, ``{"type": "echo", "n": {n}}`` expecting
  ``type = "echo"``: every reply parsed and one field compared;
- ``json-correlated``: the same, also expecting ``n = "{n}"`` (the step's own
  number, as a request/reply app would be checked).

The echo server is far faster than the generator, so each figure is the
generator's own ceiling. Prints TSV: one line per round and way (msgs/s,
generator CPU, msgs per generator CPU-second), then the median of each way
and each scenario way over echo as the median of the per-round ratios with
its bootstrap interval (paired rounds).

    python bench/scenario_cost.py [--connections 50] [--seconds 2] [--rounds 5]
"""

from __future__ import annotations

import argparse
import tomllib

from channels_harness.generators.engine import LoadConfig, LoadResult, run_load
from channels_harness.protocol.scenario import Scenario, parse
from channels_harness.runtime import confidence, pinning, stats
from channels_harness.servers.process import serving

STEP = """
[[step]]
name = "echo"
send = '{"type": "echo", "n": {n}}'
expect = { type = "echo"EXTRA }
"""

WAYS: dict[str, Scenario | None] = {
    "echo": None,
    "json": parse(tomllib.loads(STEP.replace("EXTRA", "")), "json"),
    "json-correlated": parse(tomllib.loads(STEP.replace("EXTRA", ', n = "{n}"')), "json"),
}


def once(url: str, scenario: Scenario | None, args: argparse.Namespace) -> LoadResult:
    config = LoadConfig(
        url=url,
        connections=args.connections,
        duration_s=args.seconds,
        warmup_s=0.5,
        scenario=scenario,
        # The same size as the JSON message, so the bytes on the wire match.
        payload="26B-text",
    )
    return run_load(config, 1, pinning.choose().generator)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    pins = pinning.choose()
    rates: dict[str, list[float]] = {way: [] for way in WAYS}
    print("round\tway\tmsgs_per_s\tgenerator_cpu\tmsgs_per_cpu_s\terrors")
    with serving("raw-echo", cpus=pins.server) as server:
        url = server.ws_url("/")
        for index in range(args.rounds):
            for way, scenario in WAYS.items():
                result = once(url, scenario, args)
                cpu = result.generator_cpu
                per_cpu = result.rate / cpu if cpu else 0.0
                rates[way].append(result.rate)
                print(
                    f"{index + 1}\t{way}\t{result.rate:.0f}\t{cpu:.2f}\t{per_cpu:.0f}"
                    f"\t{result.errors}"
                )
    print("way\tmedian_msgs_per_s\tratio_to_echo\tci95_low\tci95_high")
    for way, values in rates.items():
        ratio = confidence.ratio_interval(values, rates["echo"], paired=True)
        low, high = (ratio.low, ratio.high) if ratio else (float("nan"), float("nan"))
        value = ratio.value if ratio else float("nan")
        print(f"{way}\t{stats.median(values):.0f}\t{value:.3f}\t{low:.3f}\t{high:.3f}")


if __name__ == "__main__":
    main()
