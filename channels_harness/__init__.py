"""Load and conformance harness for Django Channels WebSocket apps.

The shared core: server launching (:mod:`.servers`), raw frames (:mod:`.wire`),
the measurement engine (:mod:`.loadgen`), statistics (:mod:`.stats`), the
locust user (:mod:`.locust`), pytest fixtures (:mod:`.pytest_plugin`), the
results model and reports (:mod:`.report`) and the command line (:mod:`.cli`).
"""

__version__ = "0.1.0"
