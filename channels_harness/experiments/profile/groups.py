"""Which named group a sampled stack's time belongs to.

Every frame is classified by its module and function (:func:`classify`): it
belongs to one :data:`GROUPS` entry, or it is *neutral* (a generic stdlib
helper such as ``threading``, ``functools`` or asyncio's futures and tasks,
which works for whoever called it), or it is *unknown*. A stack is assigned
by walking it from the leaf towards the root (:func:`assign`): neutral frames
are passed over, and the first frame that belongs to a group decides; a stack
that reaches an unknown frame first, or the root, is :data:`OTHER` (not
attributed). So a sample in ``isfuture`` called by asyncio's ``wrap_future``
called by asgiref's ``SyncToAsync.__call__`` counts for the thread hops, and
one in Django's ``close_old_connections`` below that hop counts for Django.

Which samples count at all is decided per thread (:func:`counted`): threads of
a process that never ran application code (a supervisor, multiprocessing's
resource tracker) are left out, and so are threads with no Python frame (a
Rust runtime's) and *parked* threads, whose leaf is a wait for work (an
executor thread in ``queue.get`` or ``Condition.wait``). The event loop's
thread always counts, idle or not: its time in ``select``/epoll is the
:data:`LOOP` group. So the shares are of the time of the threads that serve.
"""

from __future__ import annotations

from dataclasses import dataclass

from channels_harness.experiments.profile.stacks import Frame, Sample
from channels_harness.report.rows import PROFILE_GROUPS, PROFILE_OTHER

PROTOCOL, GLUE, CHANNELS, HOPS, DJANGO, CONSUMER, LOOP = PROFILE_GROUPS
OTHER = PROFILE_OTHER
GROUPS = PROFILE_GROUPS
NEUTRAL = ""


@dataclass(frozen=True)
class Rule:
    """Frames of ``module`` (or a submodule) belong to ``group``; with ``functions``,
    only frames whose function's last name part is one of them."""

    group: str
    module: str
    functions: frozenset[str] = frozenset()

    def matches(self, frame: Frame) -> bool:
        """Whether ``frame`` is one this rule covers."""
        in_module = frame.module == self.module or frame.module.startswith(self.module + ".")
        return in_module and (not self.functions or frame.method in self.functions)


def _rules(group: str, *modules: str, functions: tuple[str, ...] = ()) -> list[Rule]:
    return [Rule(group, module, frozenset(functions)) for module in modules]


_ASGI_CALLABLES = ("send", "receive", "asgi_send", "asgi_receive", "run_asgi")
# First match wins: the function-specific rules come before their module's catch-all.
RULES: tuple[Rule, ...] = (
    # The bridge between the event loop and executor threads, both ways.
    *_rules(HOPS, "asgiref.sync", "asgiref.current_thread_executor", "channels.db"),
    *_rules(HOPS, "concurrent.futures"),
    *_rules(
        HOPS,
        "asyncio.futures",
        functions=(
            "wrap_future",
            "_chain_future",
            "_call_set_state",
            "_copy_future_state",
            "_set_concurrent_future_state",
            "_call_check_cancel",
            "_set_state",
        ),
    ),
    *_rules(
        HOPS,
        "asyncio.base_events",
        "asyncio.selector_events",
        functions=("call_soon_threadsafe", "run_in_executor", "_write_to_self", "_read_from_self"),
    ),
    *_rules(DJANGO, "django"),
    *_rules(CONSUMER, "wsapp", "refsite", "channels_harness.servers.apps"),
    *_rules(CHANNELS, "channels"),
    # What turns the server's connection into ASGI events and back.
    *_rules(GLUE, "asgiref"),
    *_rules(GLUE, "uvicorn.middleware"),
    *_rules(
        GLUE,
        "uvicorn.protocols.websockets",
        functions=(*_ASGI_CALLABLES, "send_receive_event_to_app", "on_task_complete"),
    ),
    *_rules(
        GLUE,
        "daphne.server",
        functions=(
            "handle_reply",
            "application_checker",
            "create_application",
            "check_headers_type",
        ),
    ),
    *_rules(
        GLUE,
        "daphne.ws_protocol",
        functions=("onMessage", "handle_reply", "serverSend", "applicationCreateWorked"),
    ),
    *_rules(GLUE, "hypercorn.app_wrappers", "hypercorn.protocol.ws_stream"),
    *_rules(GLUE, "granian._futures", "granian.asgi", "granian._loops"),
    # The loop itself, and where it waits.
    *_rules(LOOP, "asyncio.base_events", "asyncio.runners", "asyncio.events", "selectors"),
    *_rules(LOOP, "asyncio.unix_events"),
    *_rules(
        LOOP,
        "asyncio.selector_events",
        functions=("select", "_process_events", "_run_once", "run_forever"),
    ),
    *_rules(LOOP, "uvloop"),
    *_rules(
        LOOP,
        "twisted.internet.asyncioreactor",
        "twisted.internet.base",
        "twisted.internet.posixbase",
        "twisted.internet.epollreactor",
        "twisted.internet.selectreactor",
        "twisted.internet.pollreactor",
    ),
    *_rules(LOOP, "granian.server"),
    *_rules(LOOP, "hypercorn.asyncio.run"),
    # The server's own code and the wire libraries it uses, socket I/O included.
    *_rules(PROTOCOL, "asyncio.selector_events", "asyncio.transports", "asyncio.sslproto"),
    *_rules(PROTOCOL, "asyncio.streams"),
    *_rules(PROTOCOL, "uvicorn", "daphne", "hypercorn", "granian"),
    *_rules(PROTOCOL, "twisted", "autobahn", "txaio"),
    *_rules(PROTOCOL, "websockets", "wsproto", "h11", "httptools", "h2", "priority"),
)

# Generic helpers: a frame here works for whoever called it.
NEUTRAL_MODULES: frozenset[str] = frozenset(
    {
        "threading",
        "functools",
        "contextvars",
        "contextlib",
        "abc",
        "_collections_abc",
        "collections",
        "weakref",
        "_weakrefset",
        "enum",
        "typing",
        "types",
        "copy",
        "inspect",
        "logging",
        "json",
        "codecs",
        "click",
        "runpy",
        "email",
        "datetime",
        "calendar",
        "re",
        "socket",
        "ssl",
        "dataclasses",
        "queue",
        "asyncio.futures",
        "asyncio.tasks",
        "asyncio.queues",
        "asyncio.locks",
        "asyncio.coroutines",
        "asyncio.base_futures",
        "asyncio.mixins",
        "asyncio.timeouts",
        "asyncio.exceptions",
        "asyncio.trsock",
        "twisted.python",
        "zope.interface",
        "<string>",
    }
)

# Leaves where a thread other than the event loop's waits for work to come.
PARKED_LEAVES: frozenset[tuple[str, str]] = frozenset(
    {
        ("concurrent.futures.thread", "_worker"),
        ("threading", "Condition.wait"),
        ("threading", "Event.wait"),
        ("threading", "Semaphore.acquire"),
        ("threading", "Thread.join"),
        ("threading", "Thread._wait_for_tstate_lock"),
        ("queue", "Queue.get"),
        ("multiprocessing.popen_fork", "Popen.poll"),
        ("multiprocessing.popen_fork", "Popen.wait"),
        ("multiprocessing.connection", "wait"),
        ("multiprocessing.resource_tracker", "main"),
    }
)

# Packages whose frames mean the process runs the application (not a supervisor).
APP_MODULES: tuple[str, ...] = ("channels", "django", "asgiref", "wsapp", "refsite")


def _neutral(frame: Frame) -> bool:
    module = frame.module
    return any(module == name or module.startswith(name + ".") for name in NEUTRAL_MODULES)


def classify(frame: Frame) -> str | None:
    """``frame``'s group, :data:`NEUTRAL` for a generic helper, None when unknown."""
    for rule in RULES:
        if rule.matches(frame):
            return rule.group
    return NEUTRAL if _neutral(frame) else None


def assign(frames: tuple[Frame, ...]) -> str:
    """The group of a stack (frames root first): walk from the leaf, pass neutral
    frames, stop at the first frame with a group; :data:`OTHER` at an unknown
    frame or the root."""
    for frame in reversed(frames):
        group = classify(frame)
        if group is None:
            return OTHER
        if group:
            return group
    return OTHER


def is_parked(sample: Sample) -> bool:
    """Whether the sample is a thread waiting for work (and not the event loop)."""
    leaf = sample.leaf
    if leaf is None:
        return True
    if any(classify(frame) == LOOP for frame in sample.frames):
        return False
    return (leaf.module, leaf.function) in PARKED_LEAVES


def serving_pids(samples: list[Sample]) -> set[int]:
    """The processes that ran application code in any sample."""
    return {
        s.pid
        for s in samples
        if any(f.module.split(".", 1)[0] in APP_MODULES for f in s.frames)
        or any(f.module.startswith("channels_harness.servers.apps") for f in s.frames)
    }


def counted(samples: list[Sample]) -> list[Sample]:
    """The samples whose time the shares are of (see the module doc)."""
    serving = serving_pids(samples)
    return [s for s in samples if s.pid in serving and not is_parked(s)]
