"""What lifecycle actions report: progress steps and the small results they return."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from taskmux.errors import StartFailed, TaskmuxError
from taskmux.runtime.health import CheckResult
from taskmux.runtime.state import Health

if TYPE_CHECKING:
    from taskmux.lifecycle.waiting import WaitResult


@dataclass(frozen=True)
class Progress:
    """One step of a lifecycle action, for a live display or a log line."""

    task: str
    # waiting, starting, started, completed, running, healthy, skipped, failed, stopping, stopped
    phase: str
    detail: str = ""


@dataclass(frozen=True)
class Death:
    """How a task that died within the settle window ended, and what it printed last."""

    state: str  # "exited 127", "killed by SIGSEGV"
    exit_code: int | None
    signal: str | None
    logs: tuple[str, ...]
    window: float  # the settle window it died within

    def message(self, task: str) -> str:
        text = f"task '{task}' {self.state} within {self.window:g}s of its start"
        if self.logs:
            text += "; last output: " + " | ".join(self.logs)
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "logs": list(self.logs),
        }


@dataclass
class StartReport:
    started: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)  # one-shots that exited 0 at once
    already_running: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    died: dict[str, Death] = field(default_factory=dict)  # failed: dead within the window
    warnings: list[str] = field(default_factory=list)
    error_codes: dict[str, str] = field(default_factory=dict)
    session: str = ""  # the tmux session the tasks run in (`name`, or `name-XXXX`)
    # Running tasks whose environment holds a port that moved (why), with no supervisor.
    needs_restart: dict[str, str] = field(default_factory=dict)
    # Dependents restarted after the named tasks were ready again (`lifecycle/cascade.py`).
    cascaded: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.skipped and not self.failed

    def error(self) -> StartFailed | None:
        """The one error that sums up what did not start (None when all did)."""
        if self.ok:
            return None
        if len(self.failed) == 1 and not self.skipped:  # keep the cause's own code
            ((name, message),) = self.failed.items()
            return StartFailed(message, code=self.error_codes.get(name))
        problems = [f"{n} skipped ({why})" for n, why in self.skipped.items()]
        problems += [f"{n} failed ({why})" for n, why in self.failed.items()]
        started = ", ".join(self.started) or "nothing"
        # Skips follow from the failures: one cause's code (E304 a busy port) is kept.
        codes = {self.error_codes.get(n) for n in self.failed}
        code = codes.pop() if len(codes) == 1 else None
        return StartFailed(f"started {started}; " + "; ".join(problems), code=code)

    def to_dict(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "started": self.started,
            "completed": self.completed,
            "already_running": self.already_running,
            "skipped": self.skipped,
            "failed": self.failed,
            "died": {name: death.to_dict() for name, death in self.died.items()},
            "warnings": self.warnings,
            "needs_restart": self.needs_restart,
        } | ({"cascaded": self.cascaded} if self.cascaded else {})


@dataclass
class Launched:
    """What one launch call did: started, refused (running, stopped by hand), failed.

    With a settle window, `started` holds only the tasks still alive at its end;
    `completed` those that exited 0 within it; a death with any other status is a
    failure, described in `died`.
    """

    started: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    failures: dict[str, TaskmuxError] = field(default_factory=dict)
    completed: list[str] = field(default_factory=list)
    died: dict[str, Death] = field(default_factory=dict)
    daemonized: dict[str, str] = field(default_factory=dict)  # completed, but left a server
    held: list[str] = field(default_factory=list)  # not launched: follows a failure (`follows`)


@dataclass(frozen=True)
class Checked:
    """A health check's result and the verdict it left on the task's window (if any)."""

    result: CheckResult
    before: Health | None = None
    after: Health | None = None


@dataclass
class StopReport:
    stopped: dict[str, str | None] = field(default_factory=dict)  # task -> signal that ended it
    not_running: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    session_ended: bool = False
    session_kept: str | None = None  # why `stop` (all) left the session in place

    def to_dict(self) -> dict[str, Any]:
        return {
            "stopped": self.stopped,
            "not_running": self.not_running,
            "failed": self.failed,
            "session_ended": self.session_ended,
            "session_kept": self.session_kept,
        }


@dataclass(frozen=True)
class StartWaitResult:
    """`start` with `wait`: the start report, and how the wait for readiness ended."""

    report: StartReport
    wait: WaitResult  # lifecycle/waiting.py's

    @property
    def warnings(self) -> list[str]:
        return self.report.warnings

    def to_dict(self) -> dict[str, Any]:
        return {**self.report.to_dict(), "wait": self.wait.to_dict()}


@dataclass(frozen=True)
class KillResult:
    task: str
    was_running: bool

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "was_running": self.was_running}
