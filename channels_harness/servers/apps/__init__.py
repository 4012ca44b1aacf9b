"""Extra ASGI applications the harness serves for the layered cost breakdown.

They run inside the server subprocess (whose PYTHONPATH holds ``target_app/``):

- :mod:`.bare`: a WebSocket echo written straight against ASGI, no Channels;
- :mod:`.layers`: the reference app's echo consumers mounted directly, without
  AuthMiddlewareStack or URLRouter.

Each answers any HTTP request with 200 (ServerProcess's readiness check) and
completes the lifespan protocol for servers that send it.
"""
