"""The request types the harness's locust users report (the "Type" column of
locust's tables), in a module that does not import locust, so the processes
reading locust's statistics are not patched by gevent."""

HANDSHAKE = "WS-CONNECT"
MESSAGE = "WS"
CLOSE = "WS-CLOSE"
CONNECT_STEP = "WS-CONNECT-STEP"
PUSH = "WS-PUSH"
OTHER = "WS-OTHER"
