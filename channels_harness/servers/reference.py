"""The reference Channels project (``target_app/``) as the harness addresses it:
its ASGI application, settings, readiness route and consumer flavours, by the
names every suite, locustfile, benchmark and report uses."""

from channels_harness.protocol import probe

DEFAULT_APP = "refsite.asgi:application"
DEFAULT_SETTINGS = "refsite.settings"
HEALTH_PATH = "/healthz/"

# sync: SyncConsumer, async: AsyncConsumer, generic-sync: WebsocketConsumer,
# generic-async: AsyncWebsocketConsumer.
FLAVOURS = ("sync", "async", "generic-sync", "generic-async")

# The probe consumer exists in the two raw flavours only.
PROBE_FLAVOURS = probe.PROBE_FLAVOURS


def echo_path(flavour: str) -> str:
    """The echo endpoint of ``flavour`` (text as text, bytes as bytes)."""
    return f"ws/echo/{flavour}/"


def room_path(room: str, flavour: str) -> str:
    """The endpoint of ``room`` in ``flavour``: every member gets every member's messages
    through the channel layer's group."""
    return f"ws/room/{room}/{flavour}/"


def endpoint_paths() -> list[str]:
    """The WebSocket paths of the reference app, for people to copy."""
    paths = ["ws/sc/", "ws/ac/"]
    paths += [echo_path(flavour) for flavour in FLAVOURS]
    paths += [room_path("lobby", flavour) for flavour in FLAVOURS]
    paths += ["ws/probe/sync/", "ws/probe/async/"]
    return paths
