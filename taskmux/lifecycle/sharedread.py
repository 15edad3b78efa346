"""One tmux read shared by every thread of a process that asks for one at the same time.

A start runs several things side by side that each read the session: the settle windows
of the waves launched last, dependency waits, the next wave's launch. tmux serves one
client at a time, so reads that overlap only queue behind each other (and behind the
windows being created). `SharedRead` makes them one: a caller gets the first read that
began after it asked, its own or one another caller began meanwhile. That read is as
fresh as one it would have made itself, so sharing changes no decision, only the count.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

_T = TypeVar("_T")


class SharedRead(Generic[_T]):
    """Call `read` at most once at a time; callers that asked before a read began share it."""

    def __init__(self, read: Callable[[], _T]) -> None:
        self._read = read
        self._ticks = itertools.count()
        self._tick_lock = threading.Lock()  # tickets in the order they are taken
        self._read_lock = threading.Lock()  # one read at a time
        self._latest: tuple[int, _T] | None = None  # (the ticket its read began with, value)

    def _ticket(self) -> int:
        with self._tick_lock:
            return next(self._ticks)

    def __call__(self) -> _T:
        asked = self._ticket()
        with self._read_lock:
            latest = self._latest
            if latest is not None and latest[0] > asked:
                return latest[1]  # began after this call asked: fresh enough
            began = self._ticket()
            value = self._read()  # an error is this caller's; the next caller reads again
            self._latest = (began, value)
            return value
