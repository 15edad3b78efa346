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

from taskmux.errors import HealthFailed
from taskmux.health import CheckResult
from taskmux.schema import TaskConfig
from taskmux.state import TaskState

Expectation = Literal["check", "not running", "completed", "down"]


def expectation(
    task: TaskConfig | None, state: TaskState | None, killed: bool = False
) -> tuple[Expectation, str]:
    """Whether a task should be up, and the words for it when it is not.

    "check": alive, its health check (or liveness) decides. "not running": nobody meant
    it to run. "completed": a one-shot that exited 0 (under restart policy "always" an
    exit 0 is a death like any other). "down": it should run and does not.
    """
    if state is None:
        return "not running", "killed" if killed else "not started"
    if state.is_alive:
        return "check", "running"
    if state.manually_stopped:
        return "not running", "stopped by hand"
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
            lines = self.result.output.splitlines()
            return lines[-1] if lines else ""
        return "" if self.detail == self.state else self.detail

    def why(self) -> str:
        """Why a failing task fails, in a few words."""
        if self.result is None:
            return self.state
        if self.result.timed_out:
            return self.summary
        detail = f": {self.summary}" if self.summary else ""
        return f"health check exited {self.result.exit_code}{detail}"

    def to_dict(self) -> dict[str, object]:
        """The check's own keys (healthy, exit_code, output, duration, timed_out) + state."""
        if self.result is not None:
            return {"state": self.state, **self.result.to_dict()}
        return {
            "state": self.state,
            "healthy": self.healthy,
            "exit_code": None,
            "output": self.detail,
            "duration": 0.0,
            "timed_out": False,
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
    name: str, expected: Expectation, words: str, result: CheckResult | None
) -> TaskHealth:
    """One task's line from `expectation`'s answer and the check run for it, if any."""
    if result is not None:
        return TaskHealth(name, words, True, result.healthy, result)
    if expected == "down":
        return TaskHealth(name, words, True, False, detail=words)
    return TaskHealth(name, expected, False, None, detail=words)
