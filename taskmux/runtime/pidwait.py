"""Sleep until processes end, as the kernel tells it: one `poll` over their pidfds.

A start watches the tasks it just launched through their settle window: a task that dies
in it failed to start. Looking at tmux every few tens of milliseconds for that costs a
tmux round trip per look, and sees a death only at the next look; a pidfd (Linux ≥ 5.3)
becomes readable the moment its process exits, whoever its parent is, so the window is
slept through in one call and tmux is read once, at its end or as soon as all ended.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import time
from collections.abc import Collection


def _open(pid: int) -> int | None:
    """A pidfd for `pid`; None if it has ended already. OSError where pidfds are missing."""
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None


def wait_exits(
    pids: Collection[int], deadline: float, *, first: bool = False, wake: int | None = None
) -> set[int] | None:
    """Sleep until every one of `pids` has ended (with `first`: any one), `deadline` (a
    `time.monotonic()` value: no step of the wall clock moves it) has passed, or the file
    descriptor `wake` became readable (a `StopFlag`'s); the pids that ended by then. None
    where pidfds are missing (not Linux, an old kernel): the caller then looks on its own
    clock."""
    fds: dict[int, int] = {}
    ended: set[int] = set()
    try:
        for pid in pids:
            fd = _open(pid)
            if fd is None:
                ended.add(pid)
            else:
                fds[fd] = pid
    except (AttributeError, OSError):
        _close(fds)
        return None
    try:
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
        if wake is not None:
            poller.register(wake, select.POLLIN)
        while len(ended) < len(pids) and not (first and ended):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            events = poller.poll(math.ceil(left * 1000))
            for fd, _event in events:
                if fd in fds:
                    poller.unregister(fd)
                    ended.add(fds[fd])
            if wake is not None and any(fd == wake for fd, _event in events):
                break
    finally:
        _close(fds)
    return ended


def _close(fds: dict[int, int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
