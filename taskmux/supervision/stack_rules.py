"""`taskmux up`'s decisions (SPEC §16), pure: which event is a task's failure, when the
whole stack is over by itself, and the exit code of the container's main process.

A failure is a task giving up, or an error exit of one that is not restarted (restart
policy "no", or a scheduled run); a stop is clean when every task ended on its own
`stop_signal`, within its grace period. The exit code is the first failure's own code
(a death by signal N is 128 + N, as a shell reports it), else 0.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskmux.config.signals import parse_signal

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from taskmux.config.schema import ProjectConfig, TaskConfig
    from taskmux.runtime.state import TaskState


@dataclass(frozen=True)
class Failure:
    """One task's failure, and the exit code it gives `up`."""

    task: str
    exit_code: int
    reason: str


def code_of(exit_status: int | None, exit_signal: int | None) -> int:
    """A process's end as a shell's `$?`: its status, 128 + a signal, or 1 when unknown."""
    if exit_signal:
        return 128 + exit_signal
    if exit_status:
        return exit_status
    return 1


def _succeeded(task: TaskConfig, record: Mapping[str, Any]) -> bool:
    return record.get("signal") is None and record.get("exit_code") in task.success_exit_codes


class FailureLog:
    """Reads the event stream in order and keeps every failure, the first one first."""

    def __init__(self, config: ProjectConfig) -> None:
        self.config = config
        self.failures: list[Failure] = []
        self._last_exit: dict[str, Mapping[str, Any]] = {}

    def note(self, record: Mapping[str, Any]) -> Failure | None:
        """The failure this event is (None: it is none)."""
        name, kind = record.get("task"), record.get("event")
        task = self.config.tasks.get(name) if isinstance(name, str) else None
        if task is None or not isinstance(name, str):
            return None
        failure = None
        if kind == "exited":
            self._last_exit[name] = record
            not_restarted = task.restart_policy == "no" or task.is_scheduled
            if not_restarted and not _succeeded(task, record):
                code = code_of(record.get("exit_code"), record.get("signal"))
                failure = Failure(name, code, str(record.get("description") or f"exited {code}"))
        elif kind == "gave_up":
            last = self._last_exit.get(name, {})
            code = code_of(last.get("exit_code"), last.get("signal"))
            failure = Failure(name, code, f"gave up: {record.get('reason') or 'failed'}")
        if failure is not None:
            self.failures.append(failure)
        return failure


def is_over(config: ProjectConfig, tasks: Mapping[str, TaskState]) -> bool:
    """Whether nothing runs nor will run again: no scheduled task, at least one task
    started, and every started one dead for good (gave up, stopped by hand, not to be
    restarted by its policy) with no restart pending."""
    if any(task.is_scheduled for task in config.tasks.values()):
        return False
    started = [(config.tasks[n], s) for n, s in tasks.items() if n in config.tasks]
    if not started:
        return False
    for task, state in started:
        if not state.dead or state.next_restart_at is not None:
            return False
        if state.gave_up or state.manually_stopped or task.restart_policy == "no":
            continue
        success = state.exit_signal is None and state.exit_status in task.success_exit_codes
        if task.restart_policy == "on-failure" and success:
            continue
        return False
    return True


def unclean_stops(
    config: ProjectConfig, stopped: Mapping[str, str | None], failed: Mapping[str, str]
) -> list[Failure]:
    """The tasks a stop could not end with their own signal within their grace period,
    in the stop's order, then those it could not end at all."""
    found = []
    for name, used in stopped.items():
        task = config.tasks.get(name)
        if used is None or task is None:
            continue
        if used != parse_signal(task.stop_signal).name:
            code = 128 + int(signal.Signals[used]) if used in signal.Signals.__members__ else 1
            reason = f"outlived its stop_grace_period ({task.stop_grace_period:g}s): {used}"
            found.append(Failure(name, code, reason))
    found += [Failure(name, 1, f"could not be stopped: {error}") for name, error in failed.items()]
    return found


def exit_code(failures: Sequence[Failure]) -> int:
    """0 when nothing failed, else the first failure's code."""
    return failures[0].exit_code if failures else 0
