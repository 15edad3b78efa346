"""Every pause taskmux takes, as one value passed in, and the one way to wait for a condition.

Time is an argument: the lifecycle, the supervisor, stops and waits take a `Timing`, so
tests pass `Timing.fast()` and wait milliseconds where the product waits the real pauses.
`wait_until` is the only deadline loop; the product and the tests both use it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

_T = TypeVar("_T")


@dataclass(frozen=True)
class Timing:
    """The pauses of one taskmux process, in seconds."""

    # A task `start` launched counts as up only once it has lived this long: a typo (exit
    # 127) dies in milliseconds, a program that cannot import, parse its config or bind
    # its port within a few hundred. Every task of a wave settles in the same window.
    settle: float = 0.4
    settle_poll: float = 0.1  # how often tmux is read during the settle window (no pidfds)
    log_wait: float = 1.0  # a failed start waits this long for the dead task's last output
    log_poll: float = 0.05  # between two looks at that output
    daemon_settle: float = 1.0  # a task that exited 0 at start is watched for a forked server
    daemonized_poll: float = 0.05  # between two looks for such a server on the task's port
    dependency_poll: float = 0.25  # how often a dependency's condition is looked at again
    uptime_poll: float = 0.025  # ... when it only has to stay up for its `min_uptime`
    pending_wait: float = 0.5  # how long tmux 3.3a is given to report a death it has seen
    pending_pause: float = 0.004  # between two looks at such a pending death
    term_wait: float = 3.0  # after SIGTERM in a stop's escalation, how long until SIGKILL
    kill_wait: float = 5.0  # after SIGKILL, how long a stop waits before naming survivors
    master_wait: float = 1.0  # freeing a port: how long a pre-fork master gets to end alone
    port_poll_first: float = 0.01  # freeing a port: the first pause of a wait for it to be free
    port_poll_max: float = 0.1  # the longest pause of that wait (it doubles up to this)
    death_wait: float = 3.0  # how long a restart waits for tmux to mark a stopped pane dead
    death_poll: float = 0.02  # between two looks at that pane
    exit_poll_first: float = 0.005  # the first pause of a wait for processes to exit
    exit_poll_max: float = 0.05  # the longest pause of that wait (it doubles up to this)
    exit_rescan: float = 0.1  # a stop looks for what a gone task started meanwhile this often
    port_deadline: float = 10.0  # how long a port may take to be freed
    poll: float = 0.5  # a supervisor without pidfds reads tmux this often
    sweep: float = 15.0  # a supervisor with pidfds looks at tmux this often regardless
    stop_check: float = 1.0  # how soon a stop event ends supervision unless it is woken
    daemonized_watch: float = 2.0  # a task that exited 0 is watched this long for a port child
    recovery_dependency_wait: float = 300.0  # a recovered wave waits this long for its deps
    catch_up: float = 1.0  # a reader waits this long for a running collector to catch up
    event_poll: float = 0.1  # without inotify, an event follower reads the file this often
    file_debounce: float = 0.5  # quiet after the last change of a watched file before a restart
    config_debounce: float = 0.3  # quiet after the last edit of taskmux.toml before a reload
    tmux_retry: float = 0.05  # a client that met a server exiting as it connected tries again
    # A wait that sleeps until a known moment (a min_uptime, a completion) reads tmux at
    # least this often regardless: a window closed while its process lives on ends no sleep.
    wait_sweep: float = 5.0

    @classmethod
    def fast(cls) -> Timing:
        """Pauses short enough for tests, long enough to stay correct on a loaded machine."""
        return cls(
            settle=0.15,
            settle_poll=0.05,
            log_wait=1.0,
            log_poll=0.04,
            daemon_settle=1.0,  # a forked server binds late on a loaded machine
            daemonized_poll=0.04,
            dependency_poll=0.04,
            uptime_poll=0.01,
            pending_wait=0.5,
            pending_pause=0.004,
            term_wait=1.0,
            kill_wait=2.0,
            master_wait=0.5,
            port_poll_first=0.005,
            port_poll_max=0.05,
            death_wait=3.0,
            death_poll=0.02,
            exit_poll_first=0.002,
            exit_poll_max=0.02,
            exit_rescan=0.05,
            port_deadline=5.0,
            poll=0.05,
            sweep=0.5,
            stop_check=0.2,
            daemonized_watch=0.5,
            recovery_dependency_wait=10.0,
            catch_up=1.0,
            event_poll=0.02,
            file_debounce=0.3,
            config_debounce=0.2,
            tmux_retry=0.02,
        )


# Time is an argument across processes too: a test suite spawns `start -m`, the daemon
# and the installed command with TASKMUX_TIMING=fast, so they wait what in-process calls
# wait. Any other value (or none) is the product's own pauses.
TIMING_VAR = "TASKMUX_TIMING"
DEFAULT = Timing.fast() if os.environ.get(TIMING_VAR) == "fast" else Timing()


def current(timing: Timing | None = None) -> Timing:
    """`timing`, else `DEFAULT` as it is now (looked up at call time: a test harness may
    replace `DEFAULT` with `Timing.fast()` for the processes it runs in-process)."""
    return timing if timing is not None else DEFAULT


def wait_until(
    predicate: Callable[[], _T],
    timeout: float,
    *,
    interval: float = 0.05,
    max_interval: float | None = None,
    stop: threading.Event | None = None,
    sleep: Callable[[float], None] | None = None,
) -> _T | None:
    """Call `predicate` until it returns something truthy and return that; None when
    `timeout` seconds pass (or `stop` is set) first. The predicate always runs once more
    at the deadline, so a condition met just in time is not missed. With `max_interval`
    the pause doubles from `interval` up to it (quick to notice a quick change, cheap to
    wait for a slow one). `sleep(left)`, if given, is the pause instead: the caller's
    own, of at most `left` seconds, ended early by `stop` as it sees fit."""
    deadline = time.monotonic() + timeout
    step = interval
    while True:
        value = predicate()
        if value:
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        pause = min(step, left)
        if max_interval is not None:
            step = min(step * 2, max_interval)
        if sleep is not None:
            sleep(left)
            if stop is not None and stop.is_set():
                return predicate() or None
        elif stop is not None:
            if stop.wait(pause):
                return predicate() or None
        else:
            time.sleep(pause)
