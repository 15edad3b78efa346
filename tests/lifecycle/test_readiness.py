"""Dependency conditions as a table: what one observation of a dependency means."""

from __future__ import annotations

import pytest
from task_states import task_state

from taskmux.config.schema import Condition, TaskConfig
from taskmux.lifecycle.readiness import dependency_verdict, met_at_launch
from taskmux.runtime.state import Health, TaskState


def _state(**overrides: object) -> TaskState:
    return task_state(**overrides)


PLAIN = TaskConfig(command="x")
PROBED = TaskConfig(command="x", health_url="http://127.0.0.1:1/")
READY_LINE = TaskConfig(command="x", ready_log="listening")
CODES = TaskConfig(command="x", success_exit_codes=[0, 3])
ALIVE = _state()
EXIT_0 = _state(dead=True, exit_status=0)
EXIT_1 = _state(dead=True, exit_status=1)
EXIT_3 = _state(dead=True, exit_status=3)
KILLED = _state(dead=True, exit_signal=9)
STOPPED = _state(dead=True, exit_signal=2, manually_stopped=True)


@pytest.mark.parametrize(
    ("condition", "task", "state", "expected"),
    [
        ("started", PLAIN, ALIVE, "met"),
        ("started", PLAIN, EXIT_1, "met"),  # it was started; how it ended is not asked
        ("healthy", PLAIN, ALIVE, "met"),  # no probe: alive is healthy
        ("healthy", PROBED, ALIVE, "check"),
        ("healthy", READY_LINE, ALIVE, "check"),
        ("healthy", PLAIN, EXIT_0, "met"),  # a one-shot without a probe: done counts
        ("healthy", PLAIN, EXIT_1, "failed"),  # exited: it can no longer become healthy
        ("healthy", PROBED, EXIT_0, "failed"),  # a server with a probe that stopped
        ("healthy", PLAIN, KILLED, "failed"),
        ("completed", PLAIN, ALIVE, "pending"),
        ("completed", PLAIN, EXIT_0, "met"),
        ("completed", PLAIN, EXIT_1, "met"),  # any exit
        ("completed", PLAIN, KILLED, "met"),
        ("completed_successfully", PLAIN, ALIVE, "pending"),
        ("completed_successfully", PLAIN, EXIT_0, "met"),
        ("completed_successfully", PLAIN, EXIT_1, "failed"),  # the failed migration
        ("completed_successfully", PLAIN, KILLED, "failed"),
        ("completed_successfully", CODES, EXIT_3, "met"),  # success_exit_codes count
        ("completed_successfully", PLAIN, EXIT_3, "failed"),
        ("completed", PLAIN, STOPPED, "failed"),  # stopped by hand before it finished
        ("healthy", PLAIN, None, "failed"),  # its window is gone (killed)
    ],
)
def test_dependency_verdict(
    condition: str, task: TaskConfig, state: TaskState | None, expected: str
) -> None:
    verdict = dependency_verdict(condition, task, state)  # type: ignore[arg-type]
    assert verdict.status == expected, verdict


def test_the_reasons_say_what_was_needed() -> None:
    failed = dependency_verdict("completed_successfully", PLAIN, EXIT_1)
    assert failed.reason == "exited 1; it had to complete successfully (exit 0)"
    codes = dependency_verdict("completed_successfully", CODES, _state(dead=True, exit_status=2))
    assert codes.reason == "exited 2; it had to complete successfully (an exit code in 0, 3)"
    gone = dependency_verdict("healthy", PROBED, KILLED)
    assert gone.reason == "killed by SIGKILL; it can no longer become healthy"


def test_a_passing_probe_is_not_decided_here() -> None:
    """The verdict asks for the check; the check (not a stored verdict) decides."""
    passed = _state(health=Health(True, 1.0, 0, 1000.0, 3))
    assert dependency_verdict("healthy", PROBED, passed).status == "check"


@pytest.mark.parametrize(
    ("condition", "task", "expected"),
    [
        ("started", PLAIN, True),
        ("started", PROBED, True),
        ("healthy", TaskConfig(command="x", min_uptime=0), True),  # nothing to wait for
        ("healthy", PLAIN, False),  # the default min_uptime of 1 s is waited out
        ("healthy", TaskConfig(command="x", min_uptime=0.3), False),
        ("healthy", TaskConfig(command="x", min_uptime=0, health_tcp=True, port=1), False),
        ("healthy", TaskConfig(command="x", min_uptime=0, ready_log="up"), False),
        ("completed", TaskConfig(command="x", min_uptime=0), False),
        ("completed_successfully", TaskConfig(command="x", min_uptime=0), False),
    ],
)
def test_which_conditions_a_launch_meets_by_itself(
    condition: Condition, task: TaskConfig, expected: bool
) -> None:
    assert met_at_launch(condition, task) is expected
