"""Compare two runs cell by cell and fail on regressions: the CI gate.

OLD and NEW are run folders (their data.json is enough). Every cell present in
both is compared: throughput, handshakes per second, latency percentiles,
memory per connection, locust rates and each conformance grade. Exit 1 when a
threshold is crossed: a throughput or handshake cell fell by more than
``--max-drop`` percent, or a p99 rose by more than ``--max-p99-rise`` percent,
and in both cases the two runs' intervals (95% CI, else the range of their
runs) do not overlap; or a conformance grade got worse (unless
``--allow-conformance-change``); or a cell of OLD is missing from NEW (unless
``--allow-missing``); or a cost cell's instructions per message (``bench
--cost``) rose by more than ``--max-cost-rise`` percent (default 2), whatever
the wall clock did; or NEW recorded failed cells or did not finish. A cell
whose intervals are too wide to see a change of the threshold's size is
undecided, listed apart (exit 1 only with ``--fail-undecided``). Exit 2 for
unusable input.
"""

from __future__ import annotations

import argparse

from channels_harness.commands._common import wide_console

NAME = "compare"
HELP = "compare two runs cell by cell; exit 1 on a regression (a CI gate)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", help="the baseline run folder (or its data.json)")
    parser.add_argument("new", help="the run to judge (folder or data.json)")
    parser.add_argument(
        "--max-drop",
        type=float,
        default=None,
        metavar="PCT",
        help="fail when a throughput or handshake cell fell by more than PCT percent "
        "beyond the runs' spread",
    )
    parser.add_argument(
        "--max-p99-rise",
        type=float,
        default=None,
        metavar="PCT",
        help="fail when a p99 latency rose by more than PCT percent beyond the runs' spread",
    )
    parser.add_argument(
        "--max-cost-rise",
        type=float,
        default=2.0,
        metavar="PCT",
        help="fail when a cost cell's instructions per message (counted under valgrind by "
        "bench --cost) rose by more than PCT percent (default 2; the count repeats within "
        "1%%, wall-clock noise does not enter it)",
    )
    parser.add_argument(
        "--allow-conformance-change",
        action="store_true",
        help="do not fail when a conformance grade got worse (still listed)",
    )
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="do not fail when a cell of the old run is missing from the new one (still listed)",
    )
    parser.add_argument(
        "--fail-undecided",
        action="store_true",
        help="also fail when a cell is undecided (its intervals too wide to see a change "
        "of the threshold's size)",
    )
    parser.add_argument("--markdown", metavar="FILE", help="also write the comparison as Markdown")
    parser.add_argument("--json", metavar="FILE", help="also write the comparison as JSON")
    parser.add_argument(
        "--junit", metavar="FILE", help="also write JUnit XML (one testcase per compared cell)"
    )


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from channels_harness.errors import UsageError
    from channels_harness.report import compare_output
    from channels_harness.report.compare import Thresholds, compare
    from channels_harness.report.model import load_valid, write_atomic, write_atomic_bytes

    for name in ("max_drop", "max_p99_rise", "max_cost_rise"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise UsageError(
                f"--{name.replace('_', '-')} takes a percentage of 0 or more, not {value}"
            )
    old, new = load_valid(args.old), load_valid(args.new)
    limits = Thresholds(
        max_drop_pct=args.max_drop,
        max_p99_rise_pct=args.max_p99_rise,
        max_cost_rise_pct=args.max_cost_rise,
        allow_conformance_change=args.allow_conformance_change,
        allow_missing=args.allow_missing,
        fail_undecided=args.fail_undecided,
    )
    result = compare(old.data, new.data, limits)
    if not result.changes:
        raise UsageError(
            f"{old.path} and {new.path} have no cell in common: nothing to compare "
            "(were they run with the same servers and presets?)"
        )
    console = wide_console()
    console.print(compare_output.to_table(result))
    for line in compare_output.console_lines(result):
        console.print(line, highlight=False)
    if args.markdown:
        write_atomic(Path(args.markdown), compare_output.to_markdown(result))
    if args.json:
        write_atomic(Path(args.json), json.dumps(compare_output.to_json(result), indent=1) + "\n")
    if args.junit:
        write_atomic_bytes(Path(args.junit), compare_output.to_junit(result))
    return 1 if result.failed else 0
