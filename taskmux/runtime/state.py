"""What taskmux knows about a task at one moment, and the words it uses for it.

A `TaskState` is built from one tmux observation; everything here is pure, so status,
inspect, the supervisor and the tests share one reading of the facts.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskmux.runtime.paneformat import MAX_REASON, Health, StateWords, same_run

__all__ = [
    "MAX_REASON",
    "Health",
    "StateWords",
    "TaskState",
    "health_change",
    "in_start_period",
    "next_health",
    "same_run",
]


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
class TaskState(StateWords):
    """One task's window and pane as tmux reports them, plus taskmux's shared marks (its
    words, `describe()` and `to_dict()`, are `StateWords`', shared with the lean path)."""

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
    built_from: tuple[tuple[str, int], ...] = ()  # other tasks' ports in its env, at launch
    up_since: float | None = None  # the launch on the boot clock, as wall time (`running_since`)
    holder: str = ""  # who holds it (`--holder`): see `lifecycle/holdrules.py`
    held_since: float | None = None
    held_until: float | None = None  # the claim lapses then (`hold_ttl` after its last renewal)
