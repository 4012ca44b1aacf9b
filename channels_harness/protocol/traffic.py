"""What a client says to an app that is not an echo server, and how it opens the connection.

:class:`Traffic` travels as JSON to every generator process (the picows engine,
the soak) and is rebuilt from the same options by the locust users:

- the opening handshake: extra headers (``--header``, ``--origin``, ``--cookie``
  and the session cookie :func:`login_cookie` fetched for ``--login``), a
  subprotocol, and whether a wss:// certificate is checked (``--insecure``);
- the messages, sent in turn on each connection with ``{n}`` (the message's
  number on its connection, from 0) and ``{conn}`` (the connection's number,
  from 0) replaced; a round trip ends at the next message the server sends,
  optionally checked against ``expect`` (a regular expression searched in it).

Without messages the traffic is the reference app's echo, matched by size as
before; the handshake headers still apply.
"""

from __future__ import annotations

import functools
import http.cookiejar
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from channels_harness.errors import UsageError
from channels_harness.runtime.records import Record
from channels_harness.runtime.timeouts import scaled

# RFC 9110 token characters for a header name.
_HEADER = re.compile(r"^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(\S.*)$")
# Headers the WebSocket client itself writes: a second copy would break the handshake.
_CLIENT_HEADERS = frozenset(
    {"host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version"}
)
_COOKIE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+=[^;\s]*$")


@dataclass(frozen=True)
class Traffic(Record):
    """The handshake's extra headers and subprotocol, TLS checking, and the messages."""

    messages: tuple[str, ...] = ()
    expect: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    subprotocol: str | None = None
    insecure: bool = False

    def __post_init__(self) -> None:
        # From JSON the sequences arrive as lists.
        object.__setattr__(self, "messages", tuple(self.messages))
        object.__setattr__(self, "headers", tuple((str(n), str(v)) for n, v in self.headers))

    @property
    def echo(self) -> bool:
        """True when there are no messages of the user's: the reference echo traffic."""
        return not self.messages

    def message(self, n: int, conn: int) -> str:
        """Message ``n`` of connection ``conn``: the messages in turn, placeholders replaced."""
        text = self.messages[n % len(self.messages)]
        return text.replace("{n}", str(n)).replace("{conn}", str(conn))

    @functools.cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        return re.compile(self.expect) if self.expect else None

    def mismatch(self, reply: bytes) -> str | None:
        """Why ``reply`` fails ``expect`` (None when it matches or nothing is expected)."""
        if self._pattern is None:
            return None
        text = reply.decode("utf-8", "replace")
        if self._pattern.search(text):
            return None
        return f"reply {text[:80]!r} does not match --expect {self.expect!r}"

    def handshake_headers(self) -> list[tuple[str, str]]:
        """The headers to add to the upgrade request (subprotocol included)."""
        extra = list(self.headers)
        if self.subprotocol:
            extra.append(("Sec-WebSocket-Protocol", self.subprotocol))
        return extra

    def ssl_context(self) -> ssl.SSLContext | None:
        """For wss://: a context that skips certificate checks with ``insecure``,
        else None (the client's default, the system's authorities)."""
        if not self.insecure:
            return None
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context

    def header(self, name: str) -> str | None:
        """The value of the extra header ``name`` (case-insensitive), if given."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def parse_header(text: str) -> tuple[str, str]:
    """``"Name: value"`` -> ``("Name", "value")``; UsageError saying the form otherwise."""
    match = _HEADER.match(text.strip())
    if match is None:
        raise UsageError(
            f"--header {text!r} is not 'Name: value'; write it like "
            "--header 'Authorization: Bearer abc123'"
        )
    name, value = match.group(1), match.group(2).strip()
    if name.lower() in _CLIENT_HEADERS:
        raise UsageError(
            f"--header {name!r}: the WebSocket client writes that header itself; leave it out"
        )
    return name, value


def cookie_header(cookies: Sequence[str]) -> str | None:
    """``["a=1", "b=2"]`` -> ``"a=1; b=2"``; UsageError for anything not ``name=value``."""
    for cookie in cookies:
        if not _COOKIE.match(cookie.strip()):
            raise UsageError(
                f"--cookie {cookie!r} is not 'name=value'; write it like --cookie 'sessionid=abc'"
            )
    return "; ".join(cookie.strip() for cookie in cookies) or None


def read_messages(texts: Sequence[str], path: str | None) -> tuple[str, ...]:
    """The ``--message`` texts, then every non-empty line of ``--message-file``."""
    messages = list(texts)
    if path is not None:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise UsageError(f"--message-file {path}: {exc.strerror or exc}") from None
        messages += [line for line in lines if line.strip()]
        if not messages:
            raise UsageError(f"--message-file {path} holds no message (one per line)")
    return tuple(messages)


def check_expect(expect: str | None) -> str | None:
    """``expect`` if it is a valid regular expression; UsageError naming the problem if not."""
    if expect is not None:
        try:
            re.compile(expect)
        except re.error as exc:
            raise UsageError(f"--expect {expect!r} is not a regular expression: {exc}") from None
    return expect


def build_traffic(
    *,
    messages: Sequence[str] = (),
    expect: str | None = None,
    headers: Sequence[str] = (),
    origin: str | None = None,
    cookies: Sequence[str] = (),
    subprotocol: str | None = None,
    insecure: bool = False,
) -> Traffic:
    """The traffic the options describe, every part checked (UsageError on a bad one)."""
    extra = [parse_header(text) for text in headers]
    if origin:
        extra.append(("Origin", origin))
    cookie = cookie_header(cookies)
    if cookie:
        extra.append(("Cookie", cookie))
    return Traffic(
        messages=tuple(messages),
        expect=check_expect(expect),
        headers=tuple(extra),
        subprotocol=subprotocol or None,
        insecure=insecure,
    )


def with_cookie(traffic: Traffic, cookie: str) -> Traffic:
    """``traffic`` with ``cookie`` added to its Cookie header."""
    headers = [(n, v) for n, v in traffic.headers if n.lower() != "cookie"]
    given = traffic.header("Cookie")
    headers.append(("Cookie", f"{given}; {cookie}" if given else cookie))
    return Traffic(
        messages=traffic.messages,
        expect=traffic.expect,
        headers=tuple(headers),
        subprotocol=traffic.subprotocol,
        insecure=traffic.insecure,
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Keep the login form's redirect (and its cookies) instead of following it."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def login_cookie(
    base_url: str, login_path: str, credentials: str, *, insecure: bool = False
) -> str:
    """Log in through a Django login form and return the session's cookies
    (``"csrftoken=...; sessionid=..."``), for apps behind ``AuthMiddlewareStack``.

    ``credentials`` is ``USER:PASSWORD``. GETs ``login_path`` for the CSRF
    cookie, then POSTs the form (``username``, ``password``,
    ``csrfmiddlewaretoken``). Raises UsageError saying what went wrong.
    """
    user, sep, password = credentials.partition(":")
    if not sep or not user:
        raise UsageError("--login takes USER:PASSWORD, for example --login alice:secret")
    url = urllib.parse.urljoin(base_url, login_path)
    jar = http.cookiejar.CookieJar()
    handlers: list[urllib.request.BaseHandler] = [
        urllib.request.HTTPCookieProcessor(jar),
        _NoRedirect(),
    ]
    context = Traffic(insecure=insecure).ssl_context()
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    try:
        opener.open(url, timeout=scaled(10.0)).read()
        token = next((c.value for c in jar if c.name == "csrftoken"), None)
        if token is None:
            raise UsageError(
                f"--login-url {url} set no csrftoken cookie: is it a Django login page?"
            )
        form = urllib.parse.urlencode(
            {"username": user, "password": password, "csrfmiddlewaretoken": token}
        ).encode()
        request = urllib.request.Request(url, data=form, headers={"Referer": url})
        opener.open(request, timeout=scaled(10.0)).read()
    except urllib.error.HTTPError as exc:
        if not 300 <= exc.code < 400:  # a successful login redirects
            raise UsageError(f"logging in at {url} failed: HTTP {exc.code} {exc.reason}") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"logging in at {url} failed: {exc}") from None
    cookies = {c.name: c.value for c in jar}
    if set(cookies) <= {"csrftoken"}:
        raise UsageError(
            f"logging in at {url} as {user!r} gave no session cookie: wrong user or password?"
        )
    return "; ".join(f"{name}={value}" for name, value in cookies.items())
