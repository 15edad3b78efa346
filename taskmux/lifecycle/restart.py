"""The restart decision: pure, so every rule can be checked with a table of cases.

Given a task's policy, what was observed, its shared history and the time, say what to
do: nothing, restart after a delay, give up, or reset the consecutive-restart count.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taskmux.config.schema import TaskConfig
    from taskmux.runtime.state import TaskState

MAX_DELAY = 60.0
HEALTHY_RESET_AFTER = 60.0


class Action(Enum):
    NONE = "none"
    RESTART = "restart"
    GIVE_UP = "give_up"
    RESET = "reset"


@dataclass(frozen=True)
class Policy:
    """The config keys that govern restarts."""

    restart_policy: str = "on-failure"
    max_restarts: int = 5
    restart_backoff: float = 2.0
    health_retries: int = 3
    restart_delay: float = 1.0
    success_exit_codes: tuple[int, ...] = (0,)


@dataclass(frozen=True)
class Observed:
    """What the supervisor saw of one task."""

    alive: bool
    exit_status: int | None = None
    exit_signal: int | None = None
    health_failures: int = 0  # consecutive failed health checks of the current run


@dataclass(frozen=True)
class History:
    """State shared by every taskmux process (stored on the task's tmux window)."""

    restarts: int = 0  # consecutive automatic restarts so far
    running_since: float | None = None  # when the run began, for its uptime (not its name)
    manually_stopped: bool = False
    gave_up: bool = False


@dataclass(frozen=True)
class Decision:
    action: Action
    delay: float = 0.0
    reason: str = ""


NOTHING = Decision(Action.NONE)


def backoff_delay(backoff: float, restarts_so_far: int, first: float = 1.0) -> float:
    """Delay before the next restart: first * backoff ** n for the n-th (0-based), capped
    at 60 s. `first` = 0 restarts at once, every time (`max_restarts` bounds the loop)."""
    if first <= 0:
        return 0.0
    try:
        return min(MAX_DELAY, first * backoff**restarts_so_far)
    except OverflowError:
        return MAX_DELAY


def _exit_reason(observed: Observed) -> str:
    if observed.exit_signal is not None:
        from taskmux.config.signals import signal_name  # as `status` says it: SIGKILL

        return f"killed by {signal_name(observed.exit_signal)}"
    return f"exited {observed.exit_status}"


def decide(policy: Policy, observed: Observed, history: History, now: float) -> Decision:
    """What to do about one task now. See SPEC §4 for the rules encoded here."""
    if history.manually_stopped or history.gave_up:
        return NOTHING
    if observed.alive:
        unhealthy = observed.health_failures >= policy.health_retries
        if unhealthy and policy.restart_policy != "no":
            return _restart_or_give_up(
                policy, history, f"{observed.health_failures} failed health checks"
            )
        since = history.running_since
        uptime = now - since if since is not None else 0.0
        if history.restarts and observed.health_failures == 0 and uptime >= HEALTHY_RESET_AFTER:
            return Decision(Action.RESET, reason=f"healthy for {uptime:.0f}s")
        return NOTHING
    if policy.restart_policy == "no":
        return NOTHING
    success = observed.exit_signal is None and observed.exit_status in policy.success_exit_codes
    if policy.restart_policy == "on-failure" and success:
        return NOTHING  # completed
    return _restart_or_give_up(policy, history, _exit_reason(observed))


def _restart_or_give_up(policy: Policy, history: History, reason: str) -> Decision:
    if history.restarts >= policy.max_restarts:
        return Decision(Action.GIVE_UP, reason=f"{reason}; {history.restarts} restarts already")
    delay = backoff_delay(policy.restart_backoff, history.restarts, policy.restart_delay)
    return Decision(Action.RESTART, delay, reason)


def after_failed_restart(policy: Policy, restarts: int, reason: str) -> Decision:
    """What to do once a restart could not launch (its port busy, its cwd gone), with
    `restarts` counting that attempt: the next one waits the backoff, exactly as after a
    crash, so a busy port does not use up `max_restarts` in a second."""
    return _restart_or_give_up(policy, History(restarts=restarts), reason)


def policy_of(task: TaskConfig) -> Policy:
    return Policy(
        task.restart_policy,
        task.max_restarts,
        task.restart_backoff,
        task.health_retries,
        task.restart_delay,
        tuple(task.success_exit_codes),
    )


def observed_of(state: TaskState) -> Observed:
    failures = state.health.failures if state.health else 0
    return Observed(state.is_alive, state.exit_status, state.exit_signal, failures)


def history_of(state: TaskState) -> History:
    return History(state.restarts, state.running_since, state.manually_stopped, state.gave_up)
