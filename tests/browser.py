"""Open a page in real headless Chromium over the DevTools protocol.

Collects console errors and uncaught exceptions, evaluates an expression in
the page and takes a screenshot. Chromium runs in its own process group and
is killed and reaped on every exit path.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from channels_harness.runtime import procgroup
from channels_harness.runtime.timeouts import scaled

FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
    "--window-size=1280,2000",
]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageCheck:
    errors: list[str] = field(default_factory=list)
    value: Any = None
    screenshot: bytes = b""


@contextlib.contextmanager
def _chromium() -> Iterator[str]:
    """Start Chromium; yield the DevTools HTTP base URL."""
    binary = chromium_path()
    if binary is None:
        raise FileNotFoundError("chromium is not installed (Debian package: chromium)")
    profile = tempfile.mkdtemp(prefix="harness-chromium-")
    proc = procgroup.spawn(
        [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + scaled(30)
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            match = re.search(r"DevTools listening on ws://([\d.]+:\d+)/", line)
            if match:
                yield f"http://{match.group(1)}"
                return
            if not line and proc.poll() is not None:
                break
        raise RuntimeError("chromium did not start its DevTools endpoint")
    finally:
        procgroup.stop_group(proc, grace=2.0)
        shutil.rmtree(profile, ignore_errors=True)


def check_page(path: Path, expression: str) -> PageCheck:
    """Load ``path`` and return its console errors, ``expression``'s value and a PNG."""
    result = PageCheck()
    with _chromium() as base:
        with urllib.request.urlopen(f"{base}/json/list", timeout=10) as response:
            pages = [t for t in json.loads(response.read()) if t["type"] == "page"]
        with connect(pages[0]["webSocketDebuggerUrl"], max_size=None) as ws:
            counter = 0

            def call(method: str, **params: Any) -> dict[str, Any]:
                nonlocal counter
                counter += 1
                ws.send(json.dumps({"id": counter, "method": method, "params": params}))
                deadline = time.monotonic() + scaled(30)
                while time.monotonic() < deadline:
                    message = json.loads(ws.recv(timeout=scaled(30)))
                    if message.get("id") == counter:
                        if "error" in message:
                            raise RuntimeError(f"{method}: {message['error']}")
                        return dict(message.get("result", {}))
                    collect(message)
                raise TimeoutError(method)

            loaded = False

            def collect(message: dict[str, Any]) -> None:
                nonlocal loaded
                method, params = message.get("method"), message.get("params", {})
                if method == "Page.loadEventFired":
                    loaded = True
                elif method == "Runtime.exceptionThrown":
                    result.errors.append(json.dumps(params.get("exceptionDetails"))[:500])
                elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                    result.errors.append(json.dumps(params.get("args"))[:500])
                elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                    result.errors.append(params["entry"].get("text", "")[:500])

            for domain in ("Page", "Runtime", "Log"):
                call(f"{domain}.enable")
            call("Page.navigate", url=path.resolve().as_uri())
            deadline = time.monotonic() + scaled(30)
            while not loaded and time.monotonic() < deadline:
                collect(json.loads(ws.recv(timeout=scaled(30))))
            if not loaded:
                raise TimeoutError(f"{path} did not finish loading")
            evaluated = call("Runtime.evaluate", expression=expression, returnByValue=True)
            result.value = evaluated.get("result", {}).get("value")
            shot = call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
            import base64

            result.screenshot = base64.b64decode(shot["data"])
    return result
