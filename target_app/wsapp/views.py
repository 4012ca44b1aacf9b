"""The HTTP side: a health check and the probe records."""

import os

from django.http import Http404, HttpRequest, JsonResponse

from . import live, probe_log


def healthz(request: HttpRequest) -> JsonResponse:
    """Answers once Django is loaded: servers are ready when this does."""
    return JsonResponse({"ok": True, "pid": os.getpid()})


def probe_record(request: HttpRequest, probe_id: str) -> JsonResponse:
    """What the probe connection ``probe_id`` received, sent and raised."""
    record = probe_log.get(probe_id)
    if record is None:
        raise Http404(f"no probe record {probe_id!r} in process {os.getpid()}")
    return JsonResponse(record)


def stats(request: HttpRequest) -> JsonResponse:
    """Live consumers in this process (per class), for leak checks."""
    return JsonResponse({"pid": os.getpid(), **live.snapshot()})
