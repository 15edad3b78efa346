"""`ensure`'s decision as a table: observed state and staleness in, keep/start/restart out."""

from __future__ import annotations

import pytest
from task_states import task_state

from taskmux.config.schema import TaskConfig
from taskmux.lifecycle.ensure_verdict import Staleness, Verdict, judge
from taskmux.runtime.state import Health, TaskState


def _state(**overrides: object) -> TaskState:
    return task_state(**overrides)


PLAIN = TaskConfig(command="x")
CHECKED = TaskConfig(command="x", health_check="true")
RUNNING = _state()
SIGKILLED = _state(dead=True, exit_signal=9, dead_time=1001.0)
COMPLETED = _state(dead=True, exit_status=0, dead_time=1001.0)
STOPPED = _state(dead=True, exit_signal=2, dead_time=1001.0, manually_stopped=True)
GAVE_UP = _state(dead=True, exit_status=1, dead_time=1001.0, gave_up=True)
UNHEALTHY = _state(health=Health(False, 1002.0, 3, 1000.0, 3, "exit 1"))
CHANGED = Staleness(definition_changed=True)
MOVED = Staleness(moved="the port of 'api' moved from 5432 to 6001")
NEWER = Staleness(newer_file="src/app.py")


@pytest.mark.parametrize(
    ("task", "state", "killed", "stale", "expected"),
    [
        (PLAIN, None, False, Staleness(), Verdict("started", "not started")),
        (PLAIN, None, True, Staleness(), Verdict("started", "killed")),
        (PLAIN, RUNNING, False, Staleness(), Verdict("kept")),
        (PLAIN, SIGKILLED, False, Staleness(), Verdict("started", SIGKILLED.describe())),
        (PLAIN, STOPPED, False, Staleness(), Verdict("started", STOPPED.describe())),
        (PLAIN, GAVE_UP, False, Staleness(), Verdict("started", GAVE_UP.describe())),
        (PLAIN, COMPLETED, False, Staleness(), Verdict("kept", done=True)),  # a one-shot
        (CHECKED, COMPLETED, False, Staleness(), Verdict("started", COMPLETED.describe())),
        (
            PLAIN,
            COMPLETED,
            False,
            CHANGED,
            Verdict("restarted", "its definition changed since its start"),
        ),
        (CHECKED, UNHEALTHY, False, Staleness(), Verdict("restarted", "unhealthy")),
        (PLAIN, RUNNING, False, MOVED, Verdict("restarted", MOVED.moved or "")),
        (
            PLAIN,
            RUNNING,
            False,
            CHANGED,
            Verdict("restarted", "its definition changed since its start"),
        ),
        (
            PLAIN,
            RUNNING,
            False,
            NEWER,
            Verdict("restarted", "watched file src/app.py changed since its start"),
        ),
    ],
)
def test_judge(
    task: TaskConfig, state: TaskState | None, killed: bool, stale: Staleness, expected: Verdict
) -> None:
    assert judge(task, state, killed, stale) == expected
