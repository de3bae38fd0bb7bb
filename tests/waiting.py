"""Waiting for something to happen, never for a fixed time: the one place a test may sleep, and
only between looks at what it waits for (tests/test_test_layout.py keeps it so)."""

import time
from collections.abc import Callable
from typing import TypeVar

Found = TypeVar("Found")


def eventually(check: Callable[[], Found], timeout: float = 10, what: str | Callable[[], str] = "") -> Found:
    """Return `check()` as soon as it is true; fail, saying what never happened, after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"waited {timeout:g} s in vain{': ' + said if said else ''}")
        time.sleep(0.05)
