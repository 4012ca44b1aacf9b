"""Import a locustfile the way locust does and say which user classes it offers.

Run in a subprocess (importing locust monkey-patches the process with gevent):
``python -m channels_harness.generators.locustcheck FILE`` prints one JSON
object, ``{"classes": ["ChatUser", ...]}``, and exits 0; when the file does not
import it prints ``{"error": "<one line>"}`` and exits 2.
"""

from __future__ import annotations

import json
import os
import sys
import traceback


def classes_of(path: str) -> list[str]:
    """The runnable (non-abstract) user classes of the locustfile at ``path``."""
    from locust.util.load_locustfile import load_locustfile

    return sorted(load_locustfile(path)[0])


def _problem(exc: BaseException, path: str) -> str:
    """One line: the exception, and the line of the locustfile that raised it."""
    mine = os.path.abspath(path)
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == mine]
    where = f" (line {lines[-1]})" if lines else ""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}{where}"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(json.dumps({"error": "usage: locustcheck LOCUSTFILE"}))
        return 2
    try:
        import locust  # noqa: F401  (gevent's patching first, as locust does)

        classes = classes_of(argv[0])
    except SystemExit as exc:  # locust exits when the file cannot be found or read
        print(json.dumps({"error": f"locust could not load it (exit code {exc.code})"}))
        return 2
    except BaseException as exc:
        print(json.dumps({"error": _problem(exc, argv[0])}))
        return 2
    print(json.dumps({"classes": classes}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
