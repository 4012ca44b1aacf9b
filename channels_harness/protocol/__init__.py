"""WebSocket on the wire: sans-I/O RFC 6455 frames, good and bad (:mod:`.wire`),
a raw socket client above them (:mod:`.rawclient`), and the client side of the
reference app's probe consumer (:mod:`.probe`)."""
