"""The benchmark matrix: what to measure (:mod:`.plan`) and measuring it (:mod:`.run`)."""
