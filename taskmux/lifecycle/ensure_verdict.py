"""`ensure`'s decision, pure: keep, start or restart one task from what was observed of
it and why it may be stale. Tested with a table of cases; no tmux, files or clock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from taskmux.config.schema import TaskConfig
    from taskmux.runtime.state import TaskState

Action = Literal["kept", "started", "restarted", "failed"]


@dataclass(frozen=True)
class Verdict:
    """What `ensure` does with one task, and why (empty for a task that is kept)."""

    action: Action
    reason: str = ""
    done: bool = False  # kept as a one-shot that completed: not run again, not waited for


@dataclass(frozen=True)
class Staleness:
    """Why a running task may be stale: each fact is None when it does not hold."""

    moved: str | None = None  # `why_stale` of the ports that moved
    definition_changed: bool = False
    newer_file: str | None = None  # a watched file changed after its start


def judge(task: TaskConfig, state: TaskState | None, killed: bool, stale: Staleness) -> Verdict:
    """Keep, start or restart one task, from its observed state and staleness."""
    if state is None:
        return Verdict("started", "killed" if killed else "not started")
    if not state.is_alive:
        if _completed(task, state):
            return _changed() if stale.definition_changed else Verdict("kept", done=True)
        return Verdict("started", state.describe())
    if state.health is not None and state.health.unhealthy:
        return Verdict("restarted", "unhealthy")
    if stale.moved is not None:
        return Verdict("restarted", stale.moved)
    if stale.definition_changed:
        return _changed()
    if stale.newer_file is not None:
        return Verdict("restarted", f"watched file {stale.newer_file} changed since its start")
    return Verdict("kept")


def _changed() -> Verdict:
    return Verdict("restarted", "its definition changed since its start")


def _completed(task: TaskConfig, state: TaskState) -> bool:
    """A one-shot that ended by itself with success: done, nothing to run again."""
    if state.manually_stopped or state.gave_up or state.next_restart_at is not None:
        return False
    if task.needs_check:  # as `wait` reads it: a task with a probe must be running
        return False
    return task.is_success(state.exit_status, state.exit_signal)
