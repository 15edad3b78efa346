"""Every pause taskmux takes, as one value passed in, and the one way to wait for a condition.

Time is an argument: the lifecycle, the supervisor, stops and waits take a `Timing`, so
tests pass `Timing.fast()` and wait milliseconds where the product waits the real pauses.
`wait_until` is the only deadline loop; the product and the tests both use it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

_T = TypeVar("_T")


@dataclass(frozen=True)
class Timing:
    """The pauses of one taskmux process, in seconds."""

    settle: float = 0.4  # a started wave is watched this long for a task that dies at once
    dependency_poll: float = 0.25  # how often a dependency's condition is looked at again
    pending_wait: float = 0.5  # how long tmux 3.3a is given to report a death it has seen
    pending_pause: float = 0.004  # between two looks at such a pending death
    term_wait: float = 3.0  # after SIGKILL of a stop's last survivors, how long to wait
    exit_poll_first: float = 0.005  # the first pause of a wait for processes to exit
    exit_poll_max: float = 0.05  # the longest pause of that wait (it doubles up to this)
    port_deadline: float = 10.0  # how long a port may take to be freed
    poll: float = 0.5  # a supervisor without pidfds reads tmux this often
    sweep: float = 15.0  # a supervisor with pidfds looks at tmux this often regardless
    daemonized_watch: float = 2.0  # a task that exited 0 is watched this long for a port child
    recovery_dependency_wait: float = 300.0  # a recovered wave waits this long for its deps
    catch_up: float = 1.0  # a reader waits this long for a running collector to catch up
    event_poll: float = 0.1  # without inotify, an event follower reads the file this often

    @classmethod
    def fast(cls) -> Timing:
        """Pauses short enough for tests, long enough to stay correct on a loaded machine."""
        return cls(
            settle=0.15,
            dependency_poll=0.02,
            pending_wait=0.5,
            pending_pause=0.004,
            term_wait=1.0,
            exit_poll_first=0.002,
            exit_poll_max=0.02,
            port_deadline=5.0,
            poll=0.05,
            sweep=0.5,
            daemonized_watch=0.5,
            recovery_dependency_wait=10.0,
            catch_up=1.0,
            event_poll=0.02,
        )


DEFAULT = Timing()


def wait_until(
    predicate: Callable[[], _T],
    timeout: float,
    *,
    interval: float = 0.05,
    stop: threading.Event | None = None,
) -> _T | None:
    """Call `predicate` until it returns something truthy and return that; None when
    `timeout` seconds pass (or `stop` is set) first. The predicate always runs once more
    at the deadline, so a condition met just in time is not missed."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        pause = min(interval, left)
        if stop is not None:
            if stop.wait(pause):
                return predicate() or None
        else:
            time.sleep(pause)
