"""A stop flag that a follower asleep on inotify hears at once.

An event follower sleeps in `poll()` on its inotify watch and looks at a plain
`threading.Event` only between sleeps (every `events.IDLE_LOOK` seconds), so whoever set
it and then waits for the follower to end waited up to that long: a whole second of every
daemon shutdown. Setting this flag also makes a pipe readable, which the follower polls
beside its watch.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref


def _close(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class StopFlag(threading.Event):
    """A `threading.Event` whose `set()` also wakes a poll on `fileno()`."""

    def __init__(self) -> None:
        super().__init__()
        self._read, self._write = os.pipe()
        for fd in (self._read, self._write):
            os.set_blocking(fd, False)
        # Closed with the flag, not by `set()`: a follower may still be polling the pipe.
        weakref.finalize(self, _close, self._read, self._write)

    def set(self) -> None:
        super().set()
        with contextlib.suppress(OSError):  # already readable (a second set) is as good
            os.write(self._write, b"\0")

    def fileno(self) -> int:
        return self._read
