"""The stop escalation as a table: which signals, in which order, after which waits."""

from __future__ import annotations

import signal

import pytest

from taskmux.runtime.procs import STOP_TERM_WAIT, stop_steps


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        (signal.SIGINT, [("SIGINT", 7.0), ("SIGTERM", STOP_TERM_WAIT), ("SIGKILL", 5.0)]),
        (signal.SIGQUIT, [("SIGQUIT", 7.0), ("SIGTERM", STOP_TERM_WAIT), ("SIGKILL", 5.0)]),
        (signal.SIGTERM, [("SIGTERM", 7.0), ("SIGKILL", 5.0)]),  # never twice in a row
        (signal.SIGKILL, [("SIGKILL", 7.0)]),
    ],
)
def test_stop_steps(first: signal.Signals, expected: list[tuple[str, float]]) -> None:
    assert [(sig.name, wait) for sig, wait in stop_steps(first, 7.0)] == expected
