"""The stop escalation as a table: which signals, in which order, after which waits."""

from __future__ import annotations

import signal

import pytest

from taskmux.runtime.procs import stop_steps
from taskmux.runtime.timing import Timing

TERM, KILL = Timing().term_wait, Timing().kill_wait


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        (signal.SIGINT, [("SIGINT", 7.0), ("SIGTERM", TERM), ("SIGKILL", KILL)]),
        (signal.SIGQUIT, [("SIGQUIT", 7.0), ("SIGTERM", TERM), ("SIGKILL", KILL)]),
        (signal.SIGTERM, [("SIGTERM", 7.0), ("SIGKILL", KILL)]),  # never twice in a row
        (signal.SIGKILL, [("SIGKILL", 7.0)]),
    ],
)
def test_stop_steps(first: signal.Signals, expected: list[tuple[str, float]]) -> None:
    assert [(sig.name, wait) for sig, wait in stop_steps(first, 7.0, Timing())] == expected


def test_stop_steps_take_their_pauses_from_the_timing_given() -> None:
    fast = Timing.fast()
    steps = stop_steps(signal.SIGINT, 0.5, fast)
    assert [wait for _sig, wait in steps] == [0.5, fast.term_wait, fast.kill_wait]
