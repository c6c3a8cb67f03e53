"""Polling helper shared by the tests that wait on threads, brokers and receivers."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``condition`` every 50 ms until it holds or ``timeout`` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def wait_until(what: str, done: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait until ``done()``, else fail naming ``what``."""
    assert wait_for(done, timeout), f"not {what} within {timeout:g} s"
