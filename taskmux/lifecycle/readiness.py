"""What one observation says about a dependency's condition (SPEC §9): pure.

`start` asks this for every dependency it waits on; `wait` asks the same about the tasks
it waits for. A condition is met, not yet met, impossible ("failed": the dependents are
skipped at once, with the reason), or needs the task's check run ("check").

A pending verdict may say when it can next change (`until`), so that a wait sleeps until
then instead of reading tmux every poll (`next_change`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from taskmux.config.schema import Condition, TaskConfig
from taskmux.runtime.state import TaskState

Status = Literal["met", "pending", "failed", "check"]


@dataclass(frozen=True)
class Verdict:
    """What one round's facts say about one task: met, not yet, never, or run its check."""

    status: Status
    reason: str
    # Pending: the moment (a `time.time()` value) before which nothing but the end of the
    # task's pane process can change it; inf: only that end. None: it may change any time.
    until: float | None = None


# Pending until its pane process ends: completion (or any exit) of a running task.
UNTIL_IT_ENDS = Verdict("pending", "still running", math.inf)


@dataclass(frozen=True)
class Wake:
    """When a wait has to look again: at `at` (a `time.time()` value), or as soon as one
    of `pids` (the pane processes of the tasks it waits for) ends."""

    at: float
    pids: frozenset[int]


def next_change(
    verdicts: Mapping[str, Verdict], states: Mapping[str, TaskState | None]
) -> Wake | None:
    """When the unmet verdicts can next change, if each says so and its task runs with a
    known pid; None: any may change at any time (a probe to run, a restart to come), so
    the wait looks again after its usual pause."""
    at, pids = math.inf, set[int]()
    for name, verdict in verdicts.items():
        if verdict.status == "met":
            continue
        state = states.get(name)
        if verdict.status != "pending" or verdict.until is None:
            return None
        if state is None or not state.is_alive or state.pid is None:
            return None
        at, pids = min(at, verdict.until), pids | {state.pid}
    return Wake(at, frozenset(pids)) if pids else None


def success_text(task: TaskConfig) -> str:
    codes = task.success_exit_codes
    return "exit 0" if codes == [0] else "an exit code in " + ", ".join(map(str, codes))


def settling(task: TaskConfig, state: TaskState, now: float) -> Verdict | None:
    """A probe-less task alive for less than its `min_uptime`: not ready yet (SPEC §9)."""
    since = state.running_since
    if task.needs_check or since is None:
        return None
    uptime = max(0.0, now - since)
    if uptime >= task.min_uptime:
        return None
    reason = f"up {uptime:.1f}s of its min_uptime {task.min_uptime:g}s"
    return Verdict("pending", reason, since + task.min_uptime)


def dependency_verdict(
    condition: Condition, task: TaskConfig, state: TaskState | None, now: float | None = None
) -> Verdict:
    """Whether a dependency that was started meets `condition` (see module docstring).

    "healthy" is alive with its probe passing and its ready line seen, or, without
    either, alive for its `min_uptime` (checked when `now` is given); a task without a
    probe or ready line that completed successfully (a one-shot) still counts, as it
    always has. "completed" is any exit; "completed_successfully" an exit with one of the
    task's `success_exit_codes`. An exit ends every wait: taskmux does not wait for a
    supervisor to bring the dependency back.
    """
    if state is None:
        return Verdict("failed", "is not running (its window is gone)")
    if state.is_alive:
        if condition == "started":
            return Verdict("met", "started")
        if condition in ("completed", "completed_successfully"):
            return UNTIL_IT_ENDS
        if task.needs_check:
            return Verdict("check", "not healthy yet")
        young = settling(task, state, now) if now is not None else None
        return young or Verdict("met", "running")
    ended = state.exit_text()
    if state.manually_stopped:
        return Verdict("failed", "was stopped by hand")
    success = task.is_success(state.exit_status, state.exit_signal)
    if condition in ("started", "completed"):
        return Verdict("met", ended)
    if condition == "completed_successfully":
        if success:
            return Verdict("met", ended)
        return Verdict("failed", f"{ended}; it had to complete successfully ({success_text(task)})")
    if success and not task.needs_check:
        return Verdict("met", ended)  # a one-shot: done is as healthy as it gets
    return Verdict("failed", f"{ended}; it can no longer become healthy")


def met_at_launch(condition: Condition, task: TaskConfig) -> bool:
    """Whether launching the dependency meets `condition` by itself: `started`, and
    `healthy` for a task with neither probe nor ready line and no `min_uptime` to stay up
    for (0 s of uptime is had at once). A start counts such a dependency met when tmux runs
    it, so the level costs one launch, not a wait; a death in its settle window still
    fails the start."""
    if condition == "started":
        return True
    return condition == "healthy" and not task.needs_check and task.min_uptime <= 0


def unmet_word(condition: Condition) -> str:
    """How a dependency that was not started with its dependent falls short, in words."""
    if condition == "completed":
        return "has not completed"
    if condition == "completed_successfully":
        return "has not completed successfully"
    return "is not running"
