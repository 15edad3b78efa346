"""`taskmux wait`: the installed CLI against a real, private tmux server, and the pure
judgement of what one observation means."""

from __future__ import annotations

import json
import time

import pytest
from harness import Project, project, wait_until
from task_states import task_state

from taskmux.config.schema import TaskConfig
from taskmux.lifecycle.waiting import comes_back, judge
from taskmux.runtime.state import TaskState

__all__ = ["project"]


def test_waits_until_healthy_then_exits_zero(project: Project) -> None:
    project.write(
        """
        [tasks.web]
        command = "sleep 2; touch ready; echo ready; sleep 300"
        health_check = "test -f ready"
        """
    )
    began = time.monotonic()
    assert project.run("start").returncode == 0
    result = project.run("wait", "web", "--json")
    total = time.monotonic() - began
    assert result.returncode == 0, result.stderr
    assert 1.5 <= total <= 10, total
    doc = json.loads(result.stdout)
    assert doc["ok"] is True and doc["condition"] == "healthy" and doc["timed_out"] is False
    web = doc["tasks"]["web"]
    assert web["met"] is True and web["running"] is True
    assert web["health"]["healthy"] is True


def test_a_task_that_exits_fails_the_wait_with_code_and_logs(project: Project) -> None:
    project.write(
        """
        [tasks.api]
        command = "echo booting; printf '\\\\033[31mboom: port in use\\\\033[0m\\\\n'; sleep 0.5; exit 3"
        health_check = "false"
        restart_policy = "no"
        """
    )
    assert project.run("start").returncode == 0
    began = time.monotonic()
    result = project.run("wait", "api", "--timeout", "30")
    assert time.monotonic() - began < 10  # the exit ends the wait, not the timeout
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "error[E403]" in result.stderr
    assert "exited 3" in output and "exit code: 3" in output
    assert "booting" in output and "boom: port in use" in output
    assert "\x1b" not in output  # log lines come without escape codes

    doc = project.json("wait", "api")
    assert doc["ok"] is False and doc["error"]["code"] == "E403"
    api = doc["tasks"]["api"]
    assert (api["met"], api["exit_code"], api["signal"]) == (False, 3, None)
    assert api["logs"][-2:] == ["booting", "boom: port in use"]


def test_timeout_exits_one_with_the_health_output(project: Project) -> None:
    project.write(
        """
        [tasks.slow]
        command = "echo still warming up; sleep 300"
        health_check = "echo 'connection refused'; exit 7"
        """
    )
    assert project.run("start").returncode == 0
    began = time.monotonic()
    doc = project.json("wait", "slow", "--timeout", "1")
    assert 0.9 <= time.monotonic() - began < 10
    assert doc["ok"] is False and doc["timed_out"] is True
    slow = doc["tasks"]["slow"]
    assert slow["running"] is True and slow["met"] is False
    assert "timed out after 1s" in slow["reason"]
    assert slow["health"]["exit_code"] == 7
    assert "connection refused" in slow["health"]["output"]
    wait_until(
        lambda: (
            "still warming up" in project.json("wait", "slow", "-t", "0")["tasks"]["slow"]["logs"]
        )
    )

    human = project.run("wait", "slow", "--timeout", "0.3")
    assert human.returncode == 1
    assert "timed out" in human.stderr and "connection refused" in human.stdout


def test_running_and_exited_conditions(project: Project) -> None:
    project.write(
        """
        [tasks.server]
        command = "sleep 300"
        health_check = "false"
        [tasks.migrate]
        command = "sleep 0.5; echo migrated"
        [tasks.oneshot]
        command = "true"
        auto_start = false
        """
    )
    assert project.run("start", "server", "migrate").returncode == 0
    # --running ignores the failing health check; --healthy would not be met.
    assert project.run("wait", "server", "--running").returncode == 0
    assert project.run("wait", "server", "--healthy", "-t", "0.3").returncode == 1

    assert project.run("wait", "server", "--exited", "-t", "0.5").returncode == 1
    doc = project.json("wait", "migrate", "--exited", "--timeout", "20")
    assert doc["ok"] is True and doc["tasks"]["migrate"]["exit_code"] == 0
    # A completed task is not running: --running fails at once and says so.
    failed = project.json("wait", "migrate", "--running")
    assert failed["ok"] is False and failed["tasks"]["migrate"]["reason"] == "completed"

    # Never started and nothing will start it: fail at once, with the way out.
    began = time.monotonic()
    missing = project.json("wait", "oneshot", "--timeout", "30")
    assert time.monotonic() - began < 10
    assert "taskmux start oneshot" in missing["tasks"]["oneshot"]["reason"]

    assert project.run("stop", "server").returncode == 0
    assert project.json("wait", "server", "--exited")["ok"] is True
    stopped = project.json("wait", "server")
    assert stopped["ok"] is False and stopped["tasks"]["server"]["state"] == "stopped"


def test_several_tasks_and_the_json_shape(project: Project) -> None:
    project.write(
        """
        [tasks.a]
        command = "sleep 300"
        [tasks.b]
        command = "sleep 1; touch b.ok; sleep 300"
        health_check = "test -f b.ok"
        """
    )
    assert project.run("start").returncode == 0
    doc = project.json("wait", "a", "b", "a")
    assert doc["ok"] is True
    assert set(doc) == {"ok", "condition", "timeout", "elapsed", "timed_out", "tasks"}
    assert list(doc["tasks"]) == ["a", "b"]  # named order, duplicates once
    fields = {"met", "state", "reason", "running", "pid", "exit_code", "signal", "health", "logs"}
    assert all(set(task) == fields for task in doc["tasks"].values())
    assert doc["tasks"]["a"]["health"] is None  # no health check: alive is healthy


def test_unknown_task_and_conflicting_flags_are_usage_errors(project: Project) -> None:
    project.write(
        """
        [tasks.a]
        command = "sleep 300"
        """
    )
    unknown = project.json("wait", "a", "nope")
    assert unknown["error"]["code"] == "E201"
    assert project.run("wait", "nope").returncode == 2
    both = project.run("wait", "a", "--running", "--exited")
    assert both.returncode == 2 and "E100" in both.stderr


def test_a_restart_pending_under_supervision_keeps_the_wait_going(project: Project) -> None:
    project.write(
        """
        [tasks.flaky]
        command = "if [ -f once ]; then echo up; sleep 300; else touch once; exit 1; fi"
        restart_backoff = 1.0
        restart_delay = 0.2
        min_uptime = 0.3
        """
    )
    project.supervise()
    wait_until(lambda: project.state("flaky") != "not started")  # supervision has begun
    doc = project.json("wait", "flaky", "--timeout", "30")
    assert doc["ok"] is True, doc
    assert project.status()["flaky"]["restart_count"] >= 1


# The pure judgement -----------------------------------------------------------------


def _state(**overrides: object) -> TaskState:
    return task_state(**overrides)


PLAIN = TaskConfig(command="x")
CHECKED = TaskConfig(command="x", health_check="true")
NO_RESTART = TaskConfig(command="x", restart_policy="no")
DEAD_3 = {"dead": True, "exit_status": 3}


@pytest.mark.parametrize(
    ("condition", "task", "state", "supervised", "expected"),
    [
        ("healthy", PLAIN, _state(), False, "met"),
        ("healthy", CHECKED, _state(), False, "check"),
        ("running", CHECKED, _state(), False, "met"),
        ("exited", PLAIN, _state(), False, "pending"),
        ("healthy", PLAIN, _state(**DEAD_3), False, "failed"),
        ("healthy", PLAIN, _state(**DEAD_3), True, "pending"),  # the supervisor restarts it
        ("healthy", NO_RESTART, _state(**DEAD_3), True, "failed"),
        ("healthy", PLAIN, _state(**DEAD_3, gave_up=True), True, "failed"),
        ("healthy", PLAIN, _state(dead=True, exit_status=0), True, "met"),  # a one-shot, done
        ("healthy", CHECKED, _state(dead=True, exit_status=0), False, "failed"),  # a server
        ("running", PLAIN, _state(dead=True, exit_status=0), False, "failed"),
        ("exited", PLAIN, _state(dead=True, exit_status=0), False, "met"),
        ("exited", PLAIN, _state(**DEAD_3), True, "pending"),
        ("exited", PLAIN, _state(**DEAD_3, next_restart_at=5.0), False, "pending"),
        ("exited", PLAIN, _state(**DEAD_3, manually_stopped=True), True, "met"),
        ("healthy", PLAIN, None, False, "failed"),
        ("healthy", PLAIN, None, True, "failed"),  # supervisors never start tasks
    ],
)
def test_judge(
    condition: str, task: TaskConfig, state: TaskState | None, supervised: bool, expected: str
) -> None:
    verdict = judge(condition, "t", task, state, False, supervised, 2000.0)  # type: ignore[arg-type]
    assert verdict.status == expected, verdict


def test_a_killed_task_has_exited_but_is_not_running() -> None:
    assert judge("exited", "t", PLAIN, None, True, False, 0.0).status == "met"
    assert judge("running", "t", PLAIN, None, True, False, 0.0).reason.startswith("killed")


def test_comes_back_only_when_something_will_restart_it() -> None:
    dead = _state(**DEAD_3)
    assert comes_back(PLAIN, dead, supervised=True, now=0.0)
    assert not comes_back(PLAIN, dead, supervised=False, now=0.0)
    assert comes_back(PLAIN, _state(**DEAD_3, next_restart_at=1.0), supervised=False, now=0.0)
    exhausted = _state(**DEAD_3, restarts=5)
    assert not comes_back(PLAIN, exhausted, supervised=True, now=0.0)  # it would give up


READY_LINE = TaskConfig(command="x", ready_log="up")
CODE_3 = TaskConfig(command="x", success_exit_codes=[3])


@pytest.mark.parametrize(
    ("condition", "task", "state", "expected"),
    [
        ("healthy", READY_LINE, _state(), "check"),  # a ready line is checked like a probe
        ("ready", PLAIN, _state(), "met"),
        ("ready", CHECKED, _state(), "check"),
        ("ready", PLAIN, _state(dead=True, exit_status=0), "met"),  # a one-shot, done
        ("ready", CODE_3, _state(**DEAD_3), "met"),
        ("ready", PLAIN, _state(**DEAD_3), "failed"),
        ("ready", CHECKED, _state(dead=True, exit_status=0), "failed"),  # a server stopped
        ("ready", PLAIN, _state(dead=True, exit_status=0, manually_stopped=True), "failed"),
    ],
)
def test_judge_ready(condition: str, task: TaskConfig, state: TaskState, expected: str) -> None:
    verdict = judge(condition, "t", task, state, False, False, 2000.0)  # type: ignore[arg-type]
    assert verdict.status == expected, verdict
