"""The consumer flavours the reference app serves, by the names every suite,
locustfile, benchmark and report uses."""

# sync: SyncConsumer, async: AsyncConsumer, generic-sync: WebsocketConsumer,
# generic-async: AsyncWebsocketConsumer.
FLAVOURS = ("sync", "async", "generic-sync", "generic-async")

# The probe consumer exists in the two raw flavours only.
PROBE_FLAVOURS = ("sync", "async")
