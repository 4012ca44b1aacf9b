"""What runs inside pinned generator processes: the picows measurement engine
(:mod:`.engine`: closed loop, open loop, churn, idle, fan-out, soak), the
locust users (:mod:`.locust_users`) and the launcher that runs an engine
program in its own process (:mod:`.launcher`)."""
