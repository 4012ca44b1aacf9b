"""Load only goes to loopback unless the user explicitly allows otherwise."""

from __future__ import annotations

import pytest

from channels_harness.errors import TargetRefusedError
from channels_harness.runtime.loopback import check_target


@pytest.mark.parametrize(
    "url",
    [
        "ws://127.0.0.1:8000/ws/echo/async/",
        "ws://127.0.0.9:1/",
        "ws://[::1]:8000/",
        "ws://localhost:8000/",
        "http://127.0.0.1/",
    ],
)
def test_loopback_targets_are_allowed(url: str) -> None:
    assert check_target(url) == url


@pytest.mark.parametrize(
    "url", ["ws://10.0.0.5:8000/", "ws://192.168.1.1/", "ws://8.8.8.8/", "wss://example.org/"]
)
def test_other_targets_are_refused_with_the_reason_and_the_option(url: str) -> None:
    with pytest.raises(TargetRefusedError, match="--allow-remote-target"):
        check_target(url)


def test_the_explicit_option_allows_a_remote_target() -> None:
    assert check_target("ws://10.0.0.5:8000/", allow_remote=True) == "ws://10.0.0.5:8000/"


def test_a_url_without_a_host_is_refused() -> None:
    with pytest.raises(TargetRefusedError, match="not a ws://"):
        check_target("127.0.0.1:8000")
