"""Every error the harness reports to its user, in one hierarchy.

The command line (:func:`channels_harness.cli.main`) prints any
:class:`HarnessError` as one line and exits with its :attr:`~HarnessError.exit_code`;
anything else is a bug and keeps its traceback.

::

    HarnessError                  a problem the user can act on (exit 2)
    ├── UsageError                a bad option or argument
    │   ├── UnknownServerError    a server name that is not in the registry
    │   └── AppError              --app cannot be imported, or is not an ASGI application
    ├── TargetRefusedError        load aimed outside loopback without --allow-remote-target
    ├── MasterUnreachableError    `worker --master` found no locust master there in time
    ├── ValgrindMissingError      `bench --cost` without valgrind on the PATH
    ├── TargetError               the app or server under load does not answer as the options say
    │   ├── TargetUnreachableError  nothing accepts connections at --url
    │   ├── HandshakeRefusedError   the app answered the WebSocket handshake with an HTTP error
    │   └── ReplyError              no reply to a message in time, or not what --expect wants
    └── RunError                  a part of a run failed: its cell is recorded as failed
        │                         and the run goes on with the next
        ├── ServerError           a server could not be started, reached or stopped
        │   ├── ServerUnavailableError  its package is not installed
        │   ├── PortInUseError          the port is taken
        │   ├── ServerStartError        it exited or never answered (message has its log tail)
        │   └── RedisUnavailableError   no Redis for the Redis channel layers
        ├── GeneratorError        a load generator process failed or overran its time
        │   └── LocustRunError    locust failed, or its statistics are missing
        │       └── WorkersMissingError  fewer locust workers joined than expected
        ├── ProfilerError         py-spy could not sample a server (not installed, no
        │                         ptrace permission, overran its time)
        └── CostError             a cost phase under valgrind got no reply or no dump
"""

from __future__ import annotations


class HarnessError(Exception):
    """A problem the user can act on; the message says what and how to fix it."""

    exit_code = 2


class UsageError(HarnessError):
    """An option or argument the harness cannot use."""


class UnknownServerError(UsageError, KeyError):
    """A server name that is not in the registry."""

    def __str__(self) -> str:
        return str(self.args[0])


class AppError(UsageError):
    """``--app`` names something that cannot be imported or is not an ASGI application."""


class TargetRefusedError(HarnessError):
    """A load target outside the loopback network, without the explicit option."""


class MasterUnreachableError(HarnessError):
    """No locust master accepted connections where ``worker --master`` points, in time."""


class TargetError(HarnessError):
    """The app or running server the load is for does not answer as the options say;
    nothing can be measured until the options (or the app) change."""


class TargetUnreachableError(TargetError):
    """Nothing accepts connections where ``--url`` points."""


class HandshakeRefusedError(TargetError):
    """The app runs but answered the WebSocket handshake with an HTTP error status."""


class ReplyError(TargetError):
    """A message got no reply in time, or a reply that ``--expect`` rejects."""


class RunError(HarnessError):
    """A server or a generator failed while measuring: experiments record the cell
    as failed (with the server's log tail) and go on with the next."""


class ServerError(RunError):
    """A server could not be started or stopped as asked; the message says why."""


class ServerUnavailableError(ServerError):
    """The server's package is not installed."""


class PortInUseError(ServerError):
    """The requested port is already bound on the loopback interface."""


class ServerStartError(ServerError):
    """The server exited or never answered; the message carries its log tail."""


class RedisUnavailableError(ServerError):
    """No Redis answers where the harness was told to look, and none could be started."""


class GeneratorError(RunError):
    """A generator process failed, or did not answer in time; the message says how."""


class LocustRunError(GeneratorError):
    """locust exited badly, overran its time, or left no statistics."""


class ProfilerError(RunError):
    """py-spy could not sample a server; the message says why (and how to allow ptrace)."""


class ValgrindMissingError(HarnessError):
    """``bench --cost`` needs valgrind (callgrind and callgrind_control) on the PATH."""


class CostError(RunError):
    """A cost phase under valgrind failed (no reply, no dump); the message says which."""


class WorkersMissingError(LocustRunError):
    """Fewer locust workers joined the master than it was told to expect."""
