"""Capacity: how many concurrent connections each server holds, and how it meets its limit.

A paced climb (:mod:`.climb`) to the server's real limit with curves of
memory, descriptors and canary latency per level, burst acceptance
(:mod:`.burst`), and what the server does at the limit and after; the plan in
:mod:`.plan`, the limit decisions in :mod:`.limit`, kernel facts in
:mod:`.kernel`, the whole run in :mod:`.run`.
"""

from channels_harness.experiments.capacity.plan import QUICK, CapacityPlan
from channels_harness.experiments.capacity.run import run_capacity

__all__ = ["QUICK", "CapacityPlan", "run_capacity"]
