"""Supervision end to end: a real `taskmux start -m` process on a private tmux server."""

from __future__ import annotations

import json
import os
import signal

from harness import Project, holds_for, project, wait_until

__all__ = ["project"]


def _events(project: Project, task: str, kind: str) -> list[dict[str, object]]:
    return [e for e in project.events() if e["task"] == task and e["event"] == kind]


def test_policies_under_start_monitor(project: Project) -> None:
    project.write(
        """
        [tasks.crash]
        command = "sleep 1; exit 3"
        max_restarts = 2
        restart_backoff = 1.0
        [tasks.done]
        command = "exit 0"
        [tasks.forever]
        command = "sleep 0.3; exit 0"
        restart_policy = "always"
        restart_backoff = 1.0
        max_restarts = 1000
        [tasks.never]
        command = "exit 4"
        restart_policy = "no"
        """
    )
    monitor = project.spawn("start", "-m")  # never's start fails; supervision goes on
    first = wait_until(lambda: _events(project, "crash", "exited"), timeout=15)[0]
    restarted = wait_until(lambda: _events(project, "crash", "restarted"), timeout=15)[0]
    # Noticed and restarted within about a second plus the 1 s backoff.
    assert restarted["ts"] - first["ts"] < 1.0 + 1.5
    wait_until(lambda: project.status()["crash"]["gave_up"], timeout=20)
    rows = project.status()
    assert rows["crash"]["state"] == "gave up (exited 3)" and rows["crash"]["restart_count"] == 2
    wait_until(lambda: len(_events(project, "forever", "restarted")) >= 2, timeout=15)
    assert (
        _events(project, "done", "restarted") == [] and _events(project, "never", "restarted") == []
    )
    assert rows["done"]["state"] == "completed" and rows["never"]["state"] == "exited 4"
    assert monitor.poll() is None

    kinds = [e["event"] for e in project.events() if e["task"] == "crash"]
    assert kinds[:4] == ["started", "exited", "restart_scheduled", "started"]
    assert kinds[-1] == "gave_up"
    assert all(e["exit_code"] == 3 for e in _events(project, "crash", "exited"))


def test_manual_stop_and_kill_from_another_process_are_respected(project: Project) -> None:
    project.write(
        """
        [tasks.x]
        command = "sleep 300"
        restart_policy = "always"
        health_check = "true"
        health_interval = 0.2
        [tasks.y]
        command = "sleep 300"
        restart_policy = "always"
        """
    )
    project.spawn("start", "-m")
    wait_until(lambda: all(r["running"] for r in project.status().values()), timeout=15)
    assert project.run("stop", "x").returncode == 0
    assert project.run("kill", "y").returncode == 0

    def still_stopped() -> bool:
        rows = project.status()
        return bool(rows["x"]["state"] == "stopped" and rows["y"]["state"] == "killed")

    holds_for(still_stopped, 2.0)  # ten health intervals of x
    assert _events(project, "x", "restarted") == [] and _events(project, "y", "restarted") == []

    assert project.run("start", "x").returncode == 0
    pid = project.json("inspect", "x")["pid"]
    os.kill(pid, signal.SIGKILL)  # a crash the supervisor did not cause: restarted again
    wait_until(lambda: _events(project, "x", "restarted"), timeout=10)
    wait_until(lambda: project.status()["x"]["running"], timeout=10)


def test_supervisor_crash_loses_nothing(project: Project) -> None:
    project.write(
        """
        [tasks.stable]
        command = "sleep 300"
        [tasks.flaky]
        command = "sleep 0.3; exit 1"
        restart_backoff = 1.0
        max_restarts = 100
        """
    )
    first = project.spawn("start", "-m")
    wait_until(lambda: project.status()["flaky"]["restart_count"] >= 2, timeout=20)
    pid_stable = project.json("inspect", "stable")["pid"]
    second_try = project.run("start", "-m", timeout=20)
    assert second_try.returncode == 1 and "E501" in second_try.stderr
    assert f"pid {first.pid}" in second_try.stderr

    first.send_signal(signal.SIGKILL)
    first.wait()
    assert project.json("inspect", "stable")["pid"] == pid_stable  # tasks keep running
    count = project.status()["flaky"]["restart_count"]

    project.spawn("start", "-m")
    wait_until(lambda: project.status()["flaky"]["restart_count"] > count, timeout=20)
    assert project.json("inspect", "stable")["pid"] == pid_stable  # left untouched


def test_hanging_health_check_does_not_stall_exit_detection(project: Project) -> None:
    project.write(
        """
        [tasks.hang]
        command = "sleep 300"
        health_check = "sleep 100"
        health_interval = 0.1
        health_timeout = 60
        [tasks.crash]
        command = "sleep 1; exit 2"
        restart_backoff = 1.0
        """
    )
    project.spawn("start", "-m")
    exited = wait_until(lambda: _events(project, "crash", "exited"), timeout=15)[0]
    restarted = wait_until(lambda: _events(project, "crash", "restarted"), timeout=15)[0]
    assert restarted["ts"] - exited["ts"] < 3.0


def test_sigterm_ends_monitor_and_tasks_keep_running(project: Project) -> None:
    project.write('[tasks.a]\ncommand = "sleep 300"\n')
    monitor = project.spawn("start", "-m")
    wait_until(lambda: _events(project, "a", "started"), timeout=15)  # settled: supervising
    monitor.send_signal(signal.SIGTERM)
    output, _ = monitor.communicate(timeout=15)
    assert monitor.returncode == 0
    assert "tasks keep running" in output
    assert project.status()["a"]["running"] is True
    assert json.loads(project.run("events", "--json").stdout)["ok"] is True


def test_failing_health_checks_restart_the_task(project: Project) -> None:
    project.write(
        """
        [tasks.sick]
        command = "sleep 300"
        health_check = "echo not ready; exit 1"
        health_interval = 0.2
        health_retries = 2
        restart_backoff = 1.0
        max_restarts = 1
        """
    )
    project.spawn("start", "-m")
    wait_until(lambda: project.json("inspect", "sick")["pid"], timeout=15)
    for _ in range(5):  # manual checks never extend the streak on their own
        project.run("health")
    restarted = wait_until(lambda: _events(project, "sick", "restarted"), timeout=15)[0]
    assert "failed health checks" in str(restarted["reason"])
    wait_until(lambda: project.status()["sick"]["gave_up"], timeout=15)
    row = wait_until(lambda: (r := project.status()["sick"]) and not r["running"] and r, timeout=15)
    assert row["state"].startswith("gave up")
    kinds = [e["event"] for e in project.events() if e["task"] == "sick"]
    # Each run: one health_failed when its streak reached 2, then the policy acts.
    assert kinds[:7] == [
        "started",
        "health_failed",
        "restart_scheduled",
        "started",
        "restarted",
        "health_failed",
        "gave_up",
    ], kinds
    assert set(kinds[7:]) <= {"exited"}, kinds  # gave up: the supervisor stopped it
