"""Load with locust: one cell per server and flavour (:mod:`.run`), locust's
processes (:mod:`.locustproc`) and the statistics it writes (:mod:`.locuststats`)."""
