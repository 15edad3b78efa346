"""The pure health decisions: the failure streak, its events, the words status uses for
it, and which tasks `health` holds to account. Tables of cases; no tmux, no clock."""

from __future__ import annotations

import pytest
from task_states import task_state

from taskmux.config.schema import TaskConfig
from taskmux.lifecycle.health_report import HealthReport, expectation, task_health
from taskmux.lifecycle.status import _is_starting
from taskmux.runtime.health import CheckResult
from taskmux.runtime.state import Health, TaskState, health_change, in_start_period, next_health

RUN = 1000.0
OTHER_RUN = 2000.0


def _state(**overrides: object) -> TaskState:
    return task_state(**{"started_at": RUN, **overrides})


def _health(healthy: bool, failures: int, retries: int = 3, run: float = RUN) -> Health:
    return Health(healthy, 5.0, failures, run, retries)


# The streak ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous", "passed", "counted", "failures"),
    [
        (None, False, True, 1),  # the supervisor's first failed check
        (None, True, True, 0),
        (_health(False, 2), False, True, 3),
        (_health(False, 2), True, True, 0),  # a counted pass ends the streak
        (_health(False, 2), False, False, 2),  # a manual failure does not inflate it
        (_health(False, 2), True, False, 2),  # nor does a manual pass reset it
        (None, False, False, 0),
        (_health(False, 2, run=OTHER_RUN), False, True, 1),  # a streak of an earlier run
        (_health(False, 7, retries=3), False, True, 8),
    ],
)
def test_next_health_counts_only_counted_checks(
    previous: Health | None, passed: bool, counted: bool, failures: int
) -> None:
    after = next_health(previous, passed, counted, 3, 9.0, RUN)
    assert (after.healthy, after.failures, after.run, after.retries) == (passed, failures, RUN, 3)
    assert after.checked_at == 9.0


@pytest.mark.parametrize(
    ("failures", "retries", "unhealthy"),
    [(0, 3, False), (2, 3, False), (3, 3, True), (4, 3, True), (1, 1, True), (5, 0, False)],
)
def test_unhealthy_means_retries_failures_in_a_row(
    failures: int, retries: int, unhealthy: bool
) -> None:
    assert Health(False, 0.0, failures, RUN, retries).unhealthy is unhealthy


@pytest.mark.parametrize(
    ("before", "after", "event"),
    [
        (None, _health(False, 1), None),  # still coming up: counted, not announced
        (_health(False, 1), _health(False, 2), None),
        (_health(False, 2), _health(False, 3), "health_failed"),  # the streak reached 3
        (_health(False, 3), _health(False, 4), None),  # once per streak
        (_health(False, 3), _health(False, 3), None),  # a manual check meanwhile
        (_health(False, 4), _health(True, 0), "health_recovered"),
        (_health(False, 2), _health(True, 0), None),  # never was unhealthy
        (None, _health(False, 1, retries=1), "health_failed"),
        (_health(False, 5, run=OTHER_RUN), _health(False, 3), "health_failed"),  # a new run
    ],
)
def test_health_events_mark_crossing_the_limit(
    before: Health | None, after: Health, event: str | None
) -> None:
    assert health_change(before, after) == event


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ok 5.000 0 1000.000 3", Health(True, 5.0, 0, RUN, 3)),
        ("fail 5.000 2 1000.000 3", Health(False, 5.0, 2, RUN, 3)),
        ("fail 5.000 2 - 3", Health(False, 5.0, 2, None, 3)),
        ("fail 5.000 2 1000.000", Health(False, 5.0, 2, RUN, 0)),  # an older record
        ("fail 5.000 2 2000.000 3", None),  # of another run
        ("garbage", None),
        ("fail x 2 1000.000 3", None),
        (  # the last check's reason, spaces and all, after the five fields
            "fail 5.000 1 1000.000 3 status 200, body did not match /ok/",
            Health(False, 5.0, 1, RUN, 3, "status 200, body did not match /ok/"),
        ),
    ],
)
def test_health_record_round_trip(text: str, expected: Health | None) -> None:
    decoded = Health.decode(text, RUN)
    assert decoded == expected
    if decoded is not None and decoded.retries:
        assert Health.decode(decoded.encode(), RUN) == decoded


# What status says ----------------------------------------------------------------------

CHECKED = TaskConfig(command="x", health_check="check", health_interval=1.0, health_retries=3)
PLAIN = TaskConfig(command="x")


@pytest.mark.parametrize(
    ("health", "now", "state", "healthy", "starting"),
    [
        (None, RUN + 1, "running", None, True),
        (_health(False, 0), RUN + 1, "running", None, True),  # a manual failed check
        (_health(False, 1), RUN + 1, "running", None, True),
        (_health(False, 2), RUN + 10, "running", None, False),  # past the start-up window
        (_health(False, 3), RUN + 1, "unhealthy", False, False),
        (_health(True, 0), RUN + 1, "running", True, False),
        (_health(True, 2), RUN + 10, "running", True, False),  # a manual pass, streak kept
    ],
)
def test_state_words_follow_the_streak(
    health: Health | None, now: float, state: str, healthy: bool | None, starting: bool
) -> None:
    task_state = _state(health=health)
    assert task_state.describe() == state
    row = task_state.to_dict()
    assert row["healthy"] is healthy
    assert row["health_failures"] == (health.failures if health else 0)
    assert _is_starting(CHECKED, task_state, now) is starting


def test_a_task_without_a_check_is_never_starting() -> None:
    assert _is_starting(PLAIN, _state(), RUN + 0.1) is False
    assert _is_starting(CHECKED, _state(dead=True, exit_status=1), RUN + 0.1) is False


# Which tasks `health` holds to account ---------------------------------------------------

ALWAYS = TaskConfig(command="x", restart_policy="always")


@pytest.mark.parametrize(
    ("task", "state", "killed", "expected", "words"),
    [
        (PLAIN, _state(), False, "check", "running"),
        (PLAIN, None, False, "not running", "not started"),  # auto_start = false, say
        (PLAIN, None, True, "not running", "killed"),
        (PLAIN, _state(dead=True, exit_signal=2, manually_stopped=True), False, "not running",
         "stopped by hand"),
        (PLAIN, _state(dead=True, exit_status=0), False, "completed", "completed"),
        (ALWAYS, _state(dead=True, exit_status=0), False, "down", "completed"),
        (PLAIN, _state(dead=True, exit_status=3), False, "down", "exited 3"),
        (PLAIN, _state(dead=True, exit_signal=9), False, "down", "killed by SIGKILL"),
        (PLAIN, _state(dead=True, exit_status=3, gave_up=True), False, "down",
         "gave up (exited 3)"),
        (PLAIN, _state(dead=True, exit_status=3, next_restart_at=5.0), False, "down",
         "restarting (exited 3)"),
        (None, _state(dead=True, exit_status=0), False, "completed", "completed"),
    ],
)  # fmt: skip
def test_expectation(
    task: TaskConfig | None, state: TaskState | None, killed: bool, expected: str, words: str
) -> None:
    assert expectation(task, state, killed) == (expected, words)


def test_the_report_fails_only_for_tasks_that_should_run() -> None:
    passed = CheckResult(True, 0, "", 0.1)
    failed = CheckResult(False, 1, "booting\nconnection refused", 0.1)
    quiet = HealthReport(
        {
            "up": task_health("up", "check", "running", passed),
            "manual": task_health("manual", "not running", "not started", None),
            "stopped": task_health("stopped", "not running", "stopped by hand", None),
            "once": task_health("once", "completed", "completed", None),
        }
    )
    assert quiet.healthy and quiet.error() is None
    assert quiet.to_dict()["tasks"]["manual"] == {  # type: ignore[index]
        "state": "not running",
        "healthy": None,
        "exit_code": None,
        "output": "not started",
        "duration": 0.0,
        "timed_out": False,
        "probe": None,
        "reason": "not started",
    }
    loud = HealthReport(
        {
            "api": task_health("api", "check", "running", failed),
            "worker": task_health("worker", "down", "exited 3", None),
            "manual": task_health("manual", "not running", "not started", None),
        }
    )
    assert loud.failing == ["api", "worker"]
    error = loud.error()
    assert error is not None and error.code == "E404"
    assert error.message == (
        "not healthy: api (health check exited 1: connection refused); worker (exited 3)"
    )


def test_a_reason_is_stored_on_one_bounded_line() -> None:
    reason = "exited 1:\n" + "x" * 500
    encoded = Health(False, 5.0, 1, RUN, 3, reason).encode()
    assert "\n" not in encoded
    decoded = Health.decode(encoded, RUN)
    assert decoded is not None and decoded.reason == ("exited 1: " + "x" * 500)[:200]


@pytest.mark.parametrize(
    ("passed", "counted", "ready", "failures", "healthy"),
    [
        (True, True, True, 0, True),
        (True, True, False, 0, False),  # probe passes, ready line not printed: not healthy
        (False, True, True, 2, False),
        (False, True, False, 2, False),
        (False, False, True, 1, False),  # inside health_start_period: not counted
    ],
)
def test_the_ready_line_is_needed_to_be_healthy_but_never_counts_as_a_failure(
    passed: bool, counted: bool, ready: bool, failures: int, healthy: bool
) -> None:
    after = next_health(_health(False, 1), passed, counted, 3, 6.0, RUN, "why", ready)
    assert (after.failures, after.healthy, after.reason) == (failures, healthy, "why")


@pytest.mark.parametrize(
    ("period", "started", "now", "inside"),
    [(0.0, RUN, RUN + 0.1, False), (5.0, RUN, RUN + 4.9, True), (5.0, RUN, RUN + 5, False),
     (5.0, None, RUN, False)],
)  # fmt: skip
def test_start_period(period: float, started: float | None, now: float, inside: bool) -> None:
    assert in_start_period(period, started, now) is inside
