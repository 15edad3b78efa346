"""`taskmux up` (container mode, SPEC §16): its decisions as tables (stack_rules.py), and
the real command as PID 1 of a new PID namespace (where `unshare` may make one) or as a
child subreaper: it reaps a double-forked orphan, stops every task in reverse dependency
order within its grace on SIGTERM, and exits with the right code."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
import pytest
from harness import TASKMUX, Project, holds_for, project, wait_until

from taskmux.config.schema import ProjectConfig, TaskConfig
from taskmux.runtime.state import TaskState
from taskmux.supervision.stack_rules import (
    Failure,
    FailureLog,
    code_of,
    exit_code,
    is_over,
    unclean_stops,
)

__all__ = ["project"]


def _config(**tasks: TaskConfig) -> ProjectConfig:
    return ProjectConfig(name="t", tasks=dict(tasks))


def _state(name: str, **changes: Any) -> TaskState:
    base = TaskState(
        task=name,
        window_id="@1",
        pane_id="%1",
        pid=None,
        dead=True,
        exit_status=0,
        exit_signal=None,
        dead_time=None,
        current_command="",
        current_path="",
        piped=False,
        manually_stopped=False,
        restarts=0,
        started_at=1.0,
        gave_up=False,
        next_restart_at=None,
        health=None,
    )
    return replace(base, **changes)


def test_failures_are_gave_up_or_an_error_exit_that_is_not_restarted() -> None:
    config = _config(
        once=TaskConfig(command="x", restart_policy="no"),
        web=TaskConfig(command="x", restart_policy="on-failure", success_exit_codes=[0, 2]),
    )
    log = FailureLog(config)
    assert log.note({"event": "exited", "task": "once", "exit_code": 0}) is None
    assert log.note({"event": "exited", "task": "web", "exit_code": 7}) is None  # restarted
    assert log.note({"event": "gave_up", "task": "web", "reason": "x"}) == Failure(
        "web", 7, "gave up: x"
    )
    killed = log.note({"event": "exited", "task": "once", "exit_code": None, "signal": 9})
    assert killed is not None and killed.exit_code == 137
    assert log.note({"event": "exited", "task": "gone", "exit_code": 1}) is None
    assert exit_code(log.failures) == 7 and exit_code([]) == 0
    assert code_of(None, None) == 1 and code_of(4, None) == 4


def test_the_stack_is_over_only_when_nothing_runs_nor_will_run() -> None:
    config = _config(
        once=TaskConfig(command="x", restart_policy="no"),
        web=TaskConfig(command="x"),  # on-failure
    )
    done = {"once": _state("once", exit_status=1), "web": _state("web")}
    assert is_over(config, done)
    assert not is_over(config, {})  # nothing started yet
    assert not is_over(config, {**done, "web": _state("web", dead=False)})
    assert not is_over(config, {**done, "web": _state("web", exit_status=1)})  # to restart
    assert is_over(config, {**done, "web": _state("web", exit_status=1, gave_up=True)})
    assert not is_over(config, {**done, "web": _state("web", next_restart_at=5.0)})
    scheduled = _config(report=TaskConfig(command="x", every="1m"))
    assert not is_over(scheduled, {"report": _state("report")})


def test_a_stop_is_clean_when_each_task_ended_on_its_own_signal() -> None:
    config = _config(
        a=TaskConfig(command="x"),  # SIGINT first
        b=TaskConfig(command="x", stop_signal="TERM"),
        c=TaskConfig(command="x"),
    )
    stopped = {"a": "SIGINT", "b": "SIGTERM", "c": "SIGKILL"}
    found = unclean_stops(config, stopped, {"d": "still there"})
    assert [(f.task, f.exit_code) for f in found] == [("c", 137), ("d", 1)]
    assert unclean_stops(config, {"a": "SIGINT", "b": None}, {}) == []


# The real command ----------------------------------------------------------------------

TRAP = "trap 'echo {name} >> order.txt; exit 0' INT TERM; while :; do sleep 0.05; done"
STACK = f"""
[tasks.db]
command = "{TRAP.format(name="db")}"
stop_grace_period = 4

[tasks.api]
command = "sh -c 'sleep 0.3 & echo $! > orphan.pid'; {TRAP.format(name="api")}"
depends_on = [{{ task = "db", condition = "started" }}]
stop_grace_period = 4

[tasks.web]
command = "{TRAP.format(name="web")}"
depends_on = [{{ task = "api", condition = "started" }}]
stop_grace_period = 4
"""


class Up:
    """`taskmux up --json` as a real process, its output lines read as they come."""

    def __init__(self, project: Project, args: list[str], pid1: bool) -> None:
        prefix = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"] if pid1 else []
        self.proc = subprocess.Popen(
            [*prefix, TASKMUX, "up", "--json", *args],
            cwd=project.root,
            env=project.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        project.children.append(self.proc)
        self.pid1 = pid1
        self.records: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.records.append(json.loads(line))

    def seen(self, **fields: Any) -> dict[str, Any] | None:
        for record in list(self.records):
            if all(record.get(k) == v for k, v in fields.items()):
                return record
        return None

    @property
    def main_pid(self) -> int:
        """The process that is `up` (under unshare, its child: PID 1 inside)."""
        if not self.pid1:
            return self.proc.pid
        children = wait_until(lambda: psutil.Process(self.proc.pid).children(), timeout=10)
        return int(children[0].pid)

    def wait(self) -> tuple[int, str]:
        code = self.proc.wait(timeout=30)
        self._reader.join(timeout=5)
        assert self.proc.stderr is not None
        return code, self.proc.stderr.read()


def _can_unshare() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    done = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True, check=False
    )
    return done.returncode == 0


@pytest.mark.parametrize("pid1", [True, False], ids=["pid1", "child"])
def test_up_reaps_orphans_and_stops_in_reverse_order_on_sigterm(
    project: Project, pid1: bool
) -> None:
    if pid1 and not _can_unshare():
        pytest.skip("no new PID namespace here (unshare needs root and a kernel that allows it)")
    project.write(STACK)
    up = Up(project, [], pid1)
    orphan = project.root / "orphan.pid"
    wait_until(lambda: orphan.exists() and orphan.read_text().strip(), timeout=20)
    pid = int(orphan.read_text())
    assert wait_until(lambda: up.seen(up="reaped", pid=pid), timeout=10)["exit_code"] == 0
    wait_until(lambda: up.seen(event="started", task="web") or project.state("web") == "running")
    os.kill(up.main_pid, signal.SIGTERM)
    asked = time.monotonic()
    code, stderr = up.wait()
    assert code == 0, stderr
    assert time.monotonic() - asked < 4  # each ended on its first signal, within its grace
    assert (project.root / "order.txt").read_text().split() == ["web", "api", "db"]
    stopped = up.seen(up="stopped")
    assert stopped is not None and stopped["failed"] == {}
    assert set(stopped["stopped"].values()) == {"SIGINT"}


def test_up_ignores_usr1_and_stops_the_stack_on_sighup(project: Project) -> None:
    """Every signal the reaper forwards is handled by the worker: none ends it without a
    stop (SIGUSR1's default action would have, leaving the tasks running)."""
    project.write(
        f"""
        [tasks.keep]
        command = "{TRAP.format(name="keep")}"
        """
    )
    up = Up(project, [], pid1=False)
    wait_until(lambda: project.state("keep") == "running", timeout=20)
    os.kill(up.main_pid, signal.SIGUSR1)
    holds_for(lambda: up.proc.poll() is None, 0.5)
    os.kill(up.main_pid, signal.SIGHUP)
    code, stderr = up.wait()
    assert code == 0, stderr
    assert (project.root / "order.txt").read_text().split() == ["keep"]


def test_up_exits_with_the_failing_tasks_code_at_once(project: Project) -> None:
    project.write(
        f"""
        [tasks.keep]
        command = "{TRAP.format(name="keep")}"

        [tasks.bad]
        command = "echo about to fail; sleep 0.3; exit 3"
        restart_policy = "no"
        depends_on = [{{ task = "keep", condition = "started" }}]
        """
    )
    up = Up(project, ["--exit-on-failure"], pid1=False)
    code, stderr = up.wait()
    assert code == 3, stderr
    assert "E520" in stderr and "task 'bad'" in stderr
    assert (project.root / "order.txt").read_text().split() == ["keep"]
    assert up.seen(task="bad", line="about to fail")  # the tasks' output, for `docker logs`
    stopping = up.seen(up="stopping")
    assert stopping is not None and stopping["reason"].startswith("bad:")


def test_up_ends_by_itself_once_every_task_has_ended(project: Project) -> None:
    project.write(
        """
        [tasks.once]
        command = "true"
        restart_policy = "no"
        """
    )
    code, stderr = Up(project, [], pid1=False).wait()
    assert code == 0, stderr
    assert not Path(project.root / "order.txt").exists()
