"""Where the time goes: py-spy samples of a server under the echo load,
attributed to named groups (:mod:`.groups`), as rows and flame graphs
(:mod:`.run`)."""

from channels_harness.experiments.profile.run import PROFILE_FLAVOURS, measure_profiles

__all__ = ["PROFILE_FLAVOURS", "measure_profiles"]
