"""One package or module per experiment. Each takes a plan, measures against
servers with generators, and writes typed rows into a
:class:`~channels_harness.report.model.Run`: the benchmark matrix
(:mod:`.bench`), locust load (:mod:`.load`), fan-out, scaling, soak, capacity
(:mod:`.capacity`, the ``limits`` command), hostile clients (:mod:`.attacks`)
and conformance grading (:mod:`.conformance`)."""
