"""What `health` says about a project: which tasks must be up, and whether they are.

A task counts only if someone meant it to run: it was started and not stopped by hand.
One that was never started (`auto_start = false`, or simply not named), stopped or killed
by hand is "not running" and cannot fail `health`; one that was started and then died,
or fails its check, does. Deciding that is pure (`expectation`), so the CLI, the daemon's
API and MCP give the same verdict from the same facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from taskmux.config.schema import TaskConfig
from taskmux.errors import HealthFailed
from taskmux.runtime.health import CheckResult
from taskmux.runtime.state import TaskState

Expectation = Literal["check", "not running", "completed", "down"]


def expectation(
    task: TaskConfig | None, state: TaskState | None, killed: bool = False
) -> tuple[Expectation, str]:
    """Whether a task should be up, and the words for it when it is not.

    "check": alive, its health check (or liveness) decides. "not running": nobody meant
    it to run. "completed": a one-shot that exited with a success code (under restart
    policy "always" that is a death like any other). "down": it should run and does not.
    """
    if state is None:
        return "not running", "killed" if killed else "not started"
    if state.is_alive:
        return "check", "running"
    if state.manually_stopped:
        return "not running", "stopped by hand"
    if task is not None:
        clean = task.is_success(state.exit_status, state.exit_signal)
    else:
        clean = state.exit_signal is None and state.exit_status == 0
    always = task is not None and task.restart_policy == "always"
    if clean and not always and not state.gave_up:
        return "completed", "completed"
    return "down", state.describe()


@dataclass(frozen=True)
class TaskHealth:
    """One task's line in the health report."""

    task: str
    state: str  # running, not running, completed, or how it died
    counted: bool  # whether its verdict decides the report's
    healthy: bool | None  # None: not running, and not expected to
    result: CheckResult | None = None  # the check run now, for running tasks
    detail: str = ""

    @property
    def failing(self) -> bool:
        return self.counted and self.healthy is False

    @property
    def summary(self) -> str:
        """The last line of the check's output, or why there was no check (if the state
        word does not say it already)."""
        if self.result is not None:
            if self.result.kind != "command" or self.result.healthy != (
                self.result.exit_code == 0
            ):  # http, tcp, a ready line not printed yet: the reason is one line already
                return self.result.reason
            lines = self.result.output.splitlines()
            return lines[-1] if lines else ""
        return "" if self.detail == self.state else self.detail

    def why(self) -> str:
        """Why a failing task fails, in a few words."""
        if self.result is None:
            return self.state
        code = self.result.exit_code
        if self.result.kind == "command" and code not in (None, 0):
            detail = f": {self.summary}" if self.summary else ""
            return f"health check exited {code}{detail}"
        return self.result.reason

    def to_dict(self) -> dict[str, object]:
        """The check's own keys (healthy, exit_code, output, duration, timed_out, probe,
        reason) + state."""
        if self.result is not None:
            return {"state": self.state, **self.result.to_dict()}
        return {
            "state": self.state,
            "healthy": self.healthy,
            "exit_code": None,
            "output": self.detail,
            "duration": 0.0,
            "timed_out": False,
            "probe": None,
            "reason": self.detail,
        }


@dataclass(frozen=True)
class HealthReport:
    """Every task's health, in config order; healthy unless a task that should run fails."""

    tasks: dict[str, TaskHealth] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return not self.failing

    @property
    def failing(self) -> list[str]:
        return [name for name, t in self.tasks.items() if t.failing]

    def error(self) -> HealthFailed | None:
        if self.healthy:
            return None
        parts = [f"{name} ({self.tasks[name].why()})" for name in self.failing]
        return HealthFailed("not healthy: " + "; ".join(parts))

    def to_dict(self) -> dict[str, object]:
        return {"healthy": self.healthy, "tasks": {n: t.to_dict() for n, t in self.tasks.items()}}


def task_health(
    name: str,
    expected: Expectation,
    words: str,
    result: CheckResult | None,
    starting: bool = False,
) -> TaskHealth:
    """One task's line from `expectation`'s answer and the check run for it, if any.

    `starting`: the task is inside its `health_start_period`, where a failed check does
    not count (it shows as "starting", and does not fail the report).
    """
    if result is not None and starting and not result.healthy:
        return TaskHealth(name, "starting", False, None, result)
    if result is not None:
        return TaskHealth(name, words, True, result.healthy, result)
    if expected == "down":
        return TaskHealth(name, words, True, False, detail=words)
    return TaskHealth(name, expected, False, None, detail=words)
