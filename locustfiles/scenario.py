"""A scenario file: your app's conversation, described in TOML (docs/scenarios.md).

Connect steps are WS-CONNECT-STEP requests, measured steps WS requests named
after each step, push latencies WS-PUSH, frames no step waited for WS-OTHER
(named by kind). The handshake (path, origin, headers, subprotocols) comes from
the file; --ws-* options given here win over it.

Run: `locust -f locustfiles/scenario.py --host ws://127.0.0.1:8000
--ws-scenario-file chat.toml ScenarioUser`.
"""

from channels_harness import locust


class ScenarioUser(locust.ScenarioUser):
    """The scenario of --ws-scenario-file."""
