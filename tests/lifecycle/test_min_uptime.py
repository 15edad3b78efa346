"""`min_uptime` (SPEC §9): a task without a probe is ready only once it has stayed up that
long, so `start --wait`, `wait` and a `healthy` dependency never call a task ready that
dies a moment later; and `wait` with no names waits for every auto_start task."""

from __future__ import annotations

import json
import time

import pytest
from harness import Project, project

from taskmux.config.schema import TaskConfig
from taskmux.lifecycle.readiness import dependency_verdict
from taskmux.lifecycle.waiting import judge
from taskmux.runtime.paneformat import FIELDS, pane_facts
from taskmux.runtime.state import TaskState

__all__ = ["project"]


def test_start_wait_does_not_call_a_task_ready_that_dies_within_min_uptime(
    project: Project,
) -> None:
    project.write(
        """
        [tasks.app]
        command = "sleep 0.6; echo 'cannot reach the database'; exit 1"
        restart_policy = "no"
        """
    )  # min_uptime: the default, 1 s
    result = project.run("start", "--wait", "--timeout", "20")
    assert result.returncode == 1, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "exited 1" in output and "ready after" not in output


def test_start_wait_waits_min_uptime_for_a_task_without_a_probe(project: Project) -> None:
    project.write(
        """
        [tasks.app]
        command = "sleep 300"
        min_uptime = 1.5
        """
    )
    began = time.monotonic()
    result = project.run("start", "--wait", "--timeout", "20")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - began >= 1.5, result.stdout + result.stderr


def test_wait_with_no_names_waits_for_every_auto_start_task(project: Project) -> None:
    from taskmux.runtime.timing import Timing

    project.write(
        """
        [tasks.a]
        command = "sleep 300"
        min_uptime = 0.2
        [tasks.b]
        command = "sleep 300"
        min_uptime = 0.2
        [tasks.manual]
        command = "sleep 300"
        auto_start = false
        """
    )
    assert project.run("start").returncode == 0
    service = project.service(Timing.fast())
    result = service.wait(None, "healthy", 10.0)  # `manual` never started: not waited for
    assert result.ok and [t.task for t in result.tasks] == ["a", "b"]
    assert json.dumps(result.to_dict())


def _state(started_at: float, **overrides: object) -> TaskState:
    base: dict[str, object] = {
        "task": "t", "window_id": "@1", "pane_id": "%1", "pid": 10, "dead": False,
        "exit_status": None, "exit_signal": None, "dead_time": None, "current_command": "sh",
        "current_path": "/", "piped": True, "manually_stopped": False, "restarts": 0,
        "started_at": started_at, "gave_up": False, "next_restart_at": None, "health": None,
    }  # fmt: skip
    base.update(overrides)
    return TaskState(**base)  # type: ignore[arg-type]


PLAIN = TaskConfig(command="x")  # min_uptime 1 s
AT_ONCE = TaskConfig(command="x", min_uptime=0)
PROBED = TaskConfig(command="x", health_check="true")


@pytest.mark.parametrize(
    ("condition", "task", "uptime", "expected"),
    [
        ("ready", PLAIN, 0.5, "pending"),
        ("ready", PLAIN, 1.0, "met"),
        ("healthy", PLAIN, 0.5, "pending"),
        ("healthy", AT_ONCE, 0.0, "met"),
        ("running", PLAIN, 0.1, "met"),  # running is running
        ("healthy", PROBED, 0.1, "check"),  # a probe decides, not the uptime
    ],
)
def test_judge_holds_a_young_task_to_min_uptime(
    condition: str, task: TaskConfig, uptime: float, expected: str
) -> None:
    verdict = judge(condition, "t", task, _state(1000.0), False, False, 1000.0 + uptime)  # type: ignore[arg-type]
    assert verdict.status == expected, verdict


@pytest.mark.parametrize(
    ("condition", "uptime", "expected"),
    [("healthy", 0.5, "pending"), ("healthy", 1.2, "met"), ("started", 0.0, "met")],
)
def test_a_healthy_dependency_without_probe_needs_min_uptime(
    condition: str, uptime: float, expected: str
) -> None:
    verdict = dependency_verdict(condition, PLAIN, _state(1000.0), 1000.0 + uptime)  # type: ignore[arg-type]
    assert verdict.status == expected, verdict


def test_a_step_of_the_wall_clock_is_no_uptime() -> None:
    """Launched at wall 1000.0 (boot clock 50.0); read when the boot clock says 1 s went
    by but the wall clock was stepped a minute ahead meanwhile (NTP, a date set by hand)."""
    row = dict.fromkeys(FIELDS, "")
    row |= {"@taskmux_task": "t", "pane_pid": "10", "pane_dead": "0"}
    row |= {"@taskmux_started": "1000.000", "@taskmux_boot": "1000.000 50.000"}
    wall_now, boot_now = 1061.0, 51.0
    state = TaskState(**pane_facts(row, wall_now - boot_now))  # type: ignore[arg-type]
    assert state.started_at == 1000.0  # still the run's name
    task = TaskConfig(command="x", min_uptime=1.5)
    verdict = judge("ready", "t", task, state, False, False, wall_now)
    assert verdict.status == "pending" and "up 1.0s" in verdict.reason, verdict
    assert dependency_verdict("healthy", task, state, wall_now).status == "pending"


@pytest.mark.parametrize("boot", ["", "400.000 50.000"])
def test_a_window_without_this_runs_boot_stamp_measures_by_the_wall_clock(boot: str) -> None:
    """A window launched by an older taskmux has no `@taskmux_boot`; one it relaunched
    keeps the stamp of the run before, which must not count for this one."""
    row = dict.fromkeys(FIELDS, "")
    row |= {"@taskmux_task": "t", "pane_pid": "10", "pane_dead": "0"}
    row |= {"@taskmux_started": "1000.000", "@taskmux_boot": boot}
    state = TaskState(**pane_facts(row, 123.0))  # type: ignore[arg-type]
    assert state.running_since == 1000.0
    assert judge("ready", "t", PLAIN, state, False, False, 1000.5).status == "pending"
    assert judge("ready", "t", PLAIN, state, False, False, 1001.5).status == "met"


def test_a_launch_stamps_both_clocks(project: Project) -> None:
    project.write(
        """
        [tasks.app]
        command = "sleep 300"
        """
    )
    assert project.run("start").returncode == 0
    state = project.service().observe().tasks["app"]
    assert state.started_at is not None and state.up_since is not None
    assert abs(state.up_since - state.started_at) < 0.5  # nobody stepped this machine's clock


def test_status_uptime_is_measured_on_the_boot_clock() -> None:
    from taskmux.lifecycle.readmodel import task_row

    row = dict.fromkeys(FIELDS, "")
    row |= {"@taskmux_task": "t", "pane_pid": "10", "pane_dead": "0"}
    row |= {"@taskmux_started": "1000.000", "@taskmux_boot": "1000.000 50.000"}
    state = TaskState(**pane_facts(row, 1061.0 - 52.0))  # 2 s up; the wall clock +59 s
    shown = task_row("t", None, state, False, 1061.0, {}, "/nonexistent")
    assert shown["uptime"] == 2.0


def test_without_a_boot_clock_the_monotonic_clock_stands_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """macOS has no CLOCK_BOOTTIME; its monotonic clock is also one for the machine."""
    from taskmux.runtime import bootclock

    monkeypatch.setattr(bootclock, "_BOOTTIME", None)
    before = time.monotonic()
    assert before <= bootclock.boot_clock() <= time.monotonic()
