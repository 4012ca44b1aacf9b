"""What runs inside pinned generator processes: the picows measurement engine
(:mod:`.engine`: closed loop, open loop, churn, idle, fan-out, soak), the
locust client and users (:mod:`.locust_client`, :mod:`.locust_user`, public as
:mod:`channels_harness.locust`; the bundled scenarios' :mod:`.locust_users`; what each
locust process sets up, :mod:`.locust_setup`) and the launcher that runs an engine
program in its own process (:mod:`.launcher`)."""
