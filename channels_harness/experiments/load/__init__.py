"""Load with locust: one cell per server and flavour (:mod:`.run`), locust's
processes (:mod:`.locustproc`), the statistics it writes (:mod:`.locuststats`) and
the per-name rows of a scenario file or your own locustfile (:mod:`.custom`)."""
