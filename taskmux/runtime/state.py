"""What taskmux knows about a task at one moment, and the words it uses for it.

A `TaskState` is built from one tmux observation; everything here is pure, so status,
inspect, the supervisor and the tests share one reading of the facts.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskmux.config.signals import signal_name

MAX_REASON = 200  # characters of a check's reason kept on the task's window


@dataclass(frozen=True)
class Health:
    """The last health verdict stored on the task's window, shared by every process.

    `healthy` is the last check's result, whoever ran it. `failures` is the streak of
    consecutive failed checks that count (the supervisor's, on the task's own interval);
    the task is unhealthy once that streak reaches `retries` (its `health_retries` when
    the verdict was written), not at the first failed check.
    """

    healthy: bool
    checked_at: float
    failures: int
    run: float | None = None  # started_at of the run that was checked
    retries: int = 0  # 0: unknown (a verdict written before the streak was recorded)
    reason: str = ""  # the last check's one-line reason ("status 500", "connection refused")

    @property
    def unhealthy(self) -> bool:
        return self.retries > 0 and self.failures >= self.retries

    def encode(self) -> str:
        run = f"{self.run:.3f}" if self.run is not None else "-"
        verdict = "ok" if self.healthy else "fail"
        text = f"{verdict} {self.checked_at:.3f} {self.failures} {run} {self.retries}"
        reason = " ".join(self.reason.split())[:MAX_REASON]  # one line, bounded
        return f"{text} {reason}" if reason else text

    @classmethod
    def decode(cls, text: str, current_run: float | None = None) -> Health | None:
        """The stored verdict, or None if it belongs to an earlier run of the task."""
        parts = text.split(maxsplit=5)
        if len(parts) < 4:
            return None
        try:
            run = None if parts[3] == "-" else float(parts[3])
            retries = int(parts[4]) if len(parts) >= 5 else 0
            reason = parts[5] if len(parts) == 6 else ""
            health = cls(parts[0] == "ok", float(parts[1]), int(parts[2]), run, retries, reason)
        except ValueError:
            return None
        if not same_run(run, current_run):
            return None  # a slow check of the previous run finished after a restart
        return health


def same_run(a: float | None, b: float | None) -> bool:
    """Whether two start times (stored with millisecond precision) name the same run."""
    return a is None or b is None or abs(a - b) <= 0.0005


def next_health(
    previous: Health | None,
    passed: bool,
    counted: bool,
    retries: int,
    now: float,
    run: float | None,
    reason: str = "",
    ready: bool = True,
) -> Health:
    """The verdict to store after one check of the run `run`.

    A counted check (the supervisor's) extends the failure streak or ends it; any other
    check (`taskmux health`, a dependency wait) only records its result and leaves the
    streak as it was, so a burst of manual checks can neither inflate nor reset it.
    `passed` is the probe's verdict (it makes the streak); the stored `healthy` also needs
    `ready` (the task's ready line seen), which never counts as a failure.
    """
    streak = previous.failures if previous is not None and same_run(previous.run, run) else 0
    if counted:
        streak = 0 if passed else streak + 1
    return Health(passed and ready, now, streak, run, max(1, retries), reason)


def in_start_period(start_period: float, started_at: float | None, now: float) -> bool:
    """Whether a run is still inside `health_start_period`, where failed checks do not count."""
    return start_period > 0 and started_at is not None and now - started_at < start_period


def health_change(before: Health | None, after: Health) -> str | None:
    """The event a new verdict is worth: the streak reaching its limit, or ending after it."""
    was_unhealthy = before is not None and before.unhealthy and same_run(before.run, after.run)
    if after.unhealthy and not was_unhealthy:
        return "health_failed"
    if was_unhealthy and not after.unhealthy:
        return "health_recovered"
    return None


@dataclass(frozen=True)
class TaskState:
    """One task's window and pane as tmux reports them, plus taskmux's shared marks."""

    task: str
    window_id: str
    pane_id: str
    pid: int | None
    dead: bool
    exit_status: int | None
    exit_signal: int | None
    dead_time: float | None
    current_command: str
    current_path: str
    piped: bool
    manually_stopped: bool
    restarts: int
    started_at: float | None
    gave_up: bool
    next_restart_at: float | None
    health: Health | None
    seen_exit: str = ""  # identity of the death a supervisor already reported
    ready_run: float | None = None  # started_at of the run whose ready line was seen

    @property
    def ready_seen(self) -> bool:
        """Whether this run printed its `ready_log` line (as far as a check has looked)."""
        return (
            self.ready_run is not None
            and self.started_at is not None
            and same_run(self.ready_run, self.started_at)
        )

    @property
    def death_id(self) -> str:
        """Identifies this particular death, so each is reported once across processes."""
        return f"{self.pid}:{self.dead_time}" if self.dead else ""

    @property
    def is_alive(self) -> bool:
        return not self.dead

    @property
    def exit_pending(self) -> bool:
        """tmux 3.3a: the pane is dead but its status is not known yet."""
        return self.dead and self.exit_status is None and self.exit_signal is None

    def describe(self) -> str:
        """The state word(s) a person reads in `status`."""
        if self.is_alive:
            if self.health is not None and self.health.unhealthy:
                return "unhealthy"
            return "running"
        if self.gave_up:
            return f"gave up ({self.exit_text()})"
        if self.manually_stopped:
            return "stopped"
        if self.next_restart_at is not None:
            return f"restarting ({self.exit_text()})"
        return self.exit_text()

    def health_verdict(self) -> bool | None:
        """False once unhealthy (the failure streak reached its limit), True if the last
        check passed, None when not known yet (no check, or failing below the limit)."""
        if self.health is None:
            return None
        if self.health.unhealthy:
            return False
        return True if self.health.healthy else None

    def exit_text(self) -> str:
        if self.exit_signal is not None:
            return f"killed by {signal_name(self.exit_signal)}"
        if self.exit_status is not None:
            return "completed" if self.exit_status == 0 else f"exited {self.exit_status}"
        return "exited (status unknown)"

    def to_dict(self) -> dict[str, object]:
        return {
            "state": self.describe(),
            "running": self.is_alive,
            "pid": self.pid if self.is_alive else None,
            "exit_code": self.exit_status if self.dead and self.exit_signal is None else None,
            "signal": signal_name(self.exit_signal) if self.exit_signal is not None else None,
            "window_id": self.window_id,
            "pane_id": self.pane_id,
            "pane_current_command": self.current_command,
            "pane_current_path": self.current_path,
            "manually_stopped": self.manually_stopped,
            "restart_count": self.restarts,
            "gave_up": self.gave_up,
            "started_at": self.started_at,
            "exited_at": self.dead_time if self.dead else None,
            "next_restart_at": self.next_restart_at,
            "healthy": self.health_verdict(),
            "health_failures": self.health.failures if self.health else 0,
            "health_checked_at": None if self.health is None else self.health.checked_at,
            "probe_reason": self.health.reason or None if self.health else None,
        }
