"""`taskmux wait`: block until tasks are healthy, running or exited; otherwise say why.

One tmux observation per round, health checks (with their own timeouts) only for tasks
that are alive and not yet healthy, a short pause between rounds. Deciding what a
round's facts mean is pure (`judge`); the loop only gathers facts. A dead task fails
the wait at once unless something will bring it back: a restart already scheduled, or
a running supervisor whose restart decision says it will.

Health verdicts found here are not written to the task's window: the supervisor counts
consecutive failures there, and a fast poll during startup must not look like a task
that keeps failing its checks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, Protocol

from taskmux.config import schema
from taskmux.config.schema import TaskConfig
from taskmux.config.signals import signal_name
from taskmux.lifecycle.context import Context
from taskmux.lifecycle.readiness import (
    UNTIL_IT_ENDS,
    Status,
    Verdict,
    dependency_verdict,
    settling,
)
from taskmux.lifecycle.redaction import redacted_tail
from taskmux.lifecycle.restart import Action, decide, history_of, observed_of, policy_of
from taskmux.lifecycle.results import Death, Progress, StartReport
from taskmux.lifecycle.watchloop import Watched, watch
from taskmux.runtime.health import CheckResult
from taskmux.runtime.readylog import STAMP_SLACK
from taskmux.runtime.state import TaskState
from taskmux.runtime.tmux_manager import Observation

if TYPE_CHECKING:
    from taskmux.config.project import Project
    from taskmux.config.schema import ProjectConfig
    from taskmux.runtime.timing import Timing
    from taskmux.statedir.paths import ProjectPaths


class Facts(Protocol):
    """What judging a wait needs of a project's context (`Context` is one)."""

    @property
    def project(self) -> Project: ...
    @property
    def config(self) -> ProjectConfig: ...
    @property
    def paths(self) -> ProjectPaths: ...
    @property
    def timing(self) -> Timing: ...
    def observe(self) -> Observation: ...


class Lifecycle(Facts, Protocol):
    """What a wait needs of the lifecycle (`lifecycle.core.Lifecycle` is one); named here so
    that waiting, which `start` uses, does not import the facade that imports `start`."""

    def probe(
        self, name: str, state: TaskState | None, timeout: float | None = None
    ) -> CheckResult: ...
    def start(
        self,
        names: list[str] | None = None,
        with_deps: bool = False,
        deadline: float | None = None,
        kill_port: bool = False,
    ) -> StartReport: ...


# "ready" is what `start --wait` waits for: healthy, where a one-shot without a probe or
# ready line that completed successfully counts (as for `depends_on`'s `healthy`).
# `wait` offers the other three.
Condition = Literal["healthy", "running", "exited", "ready"]
CONDITIONS: tuple[Condition, ...] = ("healthy", "running", "exited")
LOG_LINES = 20
MAX_LINE = 500  # characters kept of one log line in a report

__all__ = [
    "CONDITIONS",
    "Condition",
    "Status",
    "TaskWait",
    "Verdict",
    "WaitResult",
    "wait_dependency",
    "wait_for",
]


@dataclass(frozen=True)
class TaskWait:
    """How one task ended up: whether it met the condition, and the facts that say why."""

    task: str
    met: bool
    state: str
    reason: str
    running: bool
    pid: int | None
    exit_code: int | None
    signal: str | None
    health: CheckResult | None = None
    logs: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "met": self.met,
            "state": self.state,
            "reason": self.reason,
            "running": self.running,
            "pid": self.pid,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "health": None if self.health is None else self.health.to_dict(),
            "logs": list(self.logs),
        }


@dataclass(frozen=True)
class WaitResult:
    """The outcome of a wait: every task's facts, in the order they were named."""

    condition: Condition
    timeout: float
    elapsed: float
    timed_out: bool
    tasks: tuple[TaskWait, ...]

    @property
    def ok(self) -> bool:
        return all(t.met for t in self.tasks)

    @property
    def unmet(self) -> list[TaskWait]:
        return [t for t in self.tasks if not t.met]

    def summary(self) -> str:
        """One line: what held, or why each unmet task did not make it."""
        if self.ok:
            names = ", ".join(t.task for t in self.tasks)
            return f"{names}: {self.condition} after {self.elapsed:.1f}s"
        return "; ".join(f"{t.task}: {t.reason}" for t in self.unmet)

    def to_dict(self) -> dict[str, object]:
        return {
            "condition": self.condition,
            "timeout": self.timeout,
            "elapsed": round(self.elapsed, 3),
            "timed_out": self.timed_out,
            "tasks": {t.task: t.to_dict() for t in self.tasks},
        }


# The decision: pure --------------------------------------------------------------------


def comes_back(task: TaskConfig, state: TaskState, supervised: bool, now: float) -> bool:
    """Whether a dead task will be started again without anyone asking."""
    if state.manually_stopped or state.gave_up:
        return False
    if state.next_restart_at is not None:
        return True
    if not supervised:
        return False
    decision = decide(policy_of(task), observed_of(state), history_of(state), now)
    return decision.action is Action.RESTART


def judge(
    condition: Condition,
    name: str,
    task: TaskConfig,
    state: TaskState | None,
    killed: bool,
    supervised: bool,
    now: float,
) -> Verdict:
    """What the observed facts mean for one task; `check` asks for its health check."""
    if state is None:  # no window: supervisors restart tasks, they never start them
        if condition == "exited" and killed:
            return Verdict("met", "killed")
        return Verdict(
            "failed", f"{'killed' if killed else 'not started'}; run 'taskmux start {name}'"
        )
    if state.dead:
        if comes_back(task, state, supervised, now):
            return Verdict("pending", f"{state.exit_text()}; a restart is pending")
        if condition == "exited":
            return Verdict("met", state.describe())
        if condition in ("healthy", "ready") and _one_shot_done(task, state):
            return Verdict("met", "completed")  # as `depends_on`'s `healthy` counts it
        hint = f"; run 'taskmux start {name}'" if state.manually_stopped or state.gave_up else ""
        return Verdict("failed", state.describe() + hint)
    if condition == "exited":
        return UNTIL_IT_ENDS
    if condition in ("healthy", "ready"):
        if task.needs_check:
            return Verdict("check", "not healthy yet")
        young = settling(task, state, now)
        if young is not None:
            return young
    return Verdict("met", state.describe())


def _one_shot_done(task: TaskConfig, state: TaskState) -> bool:
    """A task without a probe or ready line that exited with a success code by itself."""
    if state.manually_stopped or task.needs_check:
        return False
    return task.is_success(state.exit_status, state.exit_signal)


# Gathering facts -----------------------------------------------------------------------


def supervisor_alive(lifecycle: Facts) -> bool:
    """Whether `start -m` or the daemon supervises this project right now."""
    from taskmux.statedir.claim import supervisor_running

    return supervisor_running(lifecycle.paths.supervisor_lock)


def last_log_lines(
    lifecycle: Facts, task: str, n: int = LOG_LINES, since: float | None = None
) -> tuple[str, ...]:
    """The task's last n log lines (only those since `since`, if given), escape codes
    removed, each cut to a sane length."""
    lines = redacted_tail(lifecycle.project, task, n)  # secrets hidden
    if since is not None:
        lines = [line for line in lines if line.ts >= since - STAMP_SLACK]
    return tuple(line.text[:MAX_LINE] for line in lines)


# `wait` ----------------------------------------------------------------------------------


def wait_for(
    lifecycle: Lifecycle,
    names: Iterable[str],
    condition: Condition = "healthy",
    timeout: float = 60.0,
    stop: threading.Event | None = None,
    poll: float | None = None,
    said_timeout: float | None = None,
    ending: str | None = None,
) -> WaitResult:
    """Wait until every task meets `condition`, one fails for good, or `timeout` passes.

    Raises TaskNotFound for a name that is not in the config, before waiting at all.
    Setting `stop` ends the wait early; the result then reports the tasks as unmet.
    `poll`: how often tmux is read (None: the lifecycle's `dependency_poll`).
    `said_timeout`: the timeout to name in the result, when this wait is the last part
    of a longer one (`start --wait`); `ending`: why an unmet task was not waited for
    longer, when the caller knows better (the start's timeout ran out).
    """
    shown = timeout if said_timeout is None else said_timeout
    wanted = list(dict.fromkeys(names))
    lifecycle.project.check_names(wanted)
    started = time.monotonic()
    watched = watch(
        lifecycle.observe,
        wanted,
        lambda observation: _judge_all(lifecycle, condition, wanted, observation),
        lambda name, state, left: _check(lifecycle, name, state, left),
        _unhealthy_reason,
        deadline=started + max(0.0, timeout),
        interval=lifecycle.timing.dependency_poll if poll is None else poll,
        stop=stop,
        sweep=lifecycle.timing.wait_sweep,
    )
    return WaitResult(
        condition,
        shown,
        time.monotonic() - started,
        watched.timed_out,
        _reports(lifecycle, shown, watched, ending),
    )


# A dependency of `start` -----------------------------------------------------------------


def wait_dependency(
    ctx: Context,
    check: Callable[[str, TaskState], CheckResult],
    name: str,
    condition: schema.Condition,
    cancel: threading.Event | None = None,
    deadline: float | None = None,
) -> str | None:
    """Wait until a started dependency meets `condition`; None when it does, else why
    it cannot (at once, when it exits in a way that rules the condition out).

    "healthy" gives up after health_start_period + health_retries * health_interval;
    the completion conditions wait as long as the task runs. Either ends at `deadline`
    (a `time.monotonic()` value), if given, or when `cancel` is set.
    """
    task = ctx.project.task(name)
    limit, ending = deadline, "when the timeout ran out"
    if condition == "healthy":
        patience = task.health_start_period + task.health_retries * task.health_interval
        began = time.monotonic()
        if deadline is None or began + patience < deadline:
            limit, ending = began + patience, f"(gave up after {patience:g}s)"

    def judge(observation: Observation) -> dict[str, Verdict]:
        verdict = dependency_verdict(condition, task, observation.tasks.get(name), time.time())
        if verdict.status == "pending" and condition.startswith("completed"):
            verdict = replace(verdict, reason="was still running")
        return {name: verdict}

    # A probe-less `healthy` is a matter of time: looked at often, its level costs little
    # more than `min_uptime`.
    plain = condition == "healthy" and not task.needs_check
    watched = watch(
        ctx.observe,
        [name],
        judge,
        lambda task_name, state, _left: check(task_name, state),
        _dependency_unhealthy,
        deadline=limit,
        interval=ctx.timing.uptime_poll if plain else ctx.timing.dependency_poll,
        stop=cancel,
        sweep=ctx.timing.wait_sweep,
    )
    verdict = watched.verdicts[name]
    if verdict.status == "met":
        state = watched.observation.tasks.get(name)
        if state is not None and state.dead:  # a one-shot finished
            how = state.exit_text() if state.exit_signal else f"exited {state.exit_status}"
            ctx.report(Progress(name, "completed", how))
        return None
    if verdict.status == "failed":
        return verdict.reason
    if not watched.timed_out:
        return "was not waited for (start interrupted)"
    return f"{verdict.reason} {ending}"


def _dependency_unhealthy(result: CheckResult) -> str:
    return f"is not healthy: {result.reason}" if result.reason else "is not healthy"


def _judge_all(
    lifecycle: Facts, condition: Condition, names: list[str], observation: Observation
) -> dict[str, Verdict]:
    now = time.time()
    supervised: bool | None = None  # asked only when a task is missing or dead
    verdicts = {}
    for name in names:
        state = observation.tasks.get(name)
        if supervised is None and (state is None or state.dead):
            supervised = supervisor_alive(lifecycle)
        task = lifecycle.project.task(name)
        killed = name in observation.killed
        verdicts[name] = judge(condition, name, task, state, killed, bool(supervised), now)
    return verdicts


def _check(
    lifecycle: Lifecycle, name: str, state: TaskState, remaining: float | None
) -> CheckResult:
    timeout = lifecycle.project.task(name).health_timeout
    return lifecycle.probe(name, state, timeout if remaining is None else min(timeout, remaining))


def _unhealthy_reason(result: CheckResult) -> str:
    """ "not healthy: status 500", "not healthy: exited 1: not ready", "... timed out"."""
    return f"not healthy: {result.reason[:MAX_LINE]}" if result.reason else "not healthy"


def _reports(
    lifecycle: Facts, timeout: float, watched: Watched, told: str | None = None
) -> tuple[TaskWait, ...]:
    observation, verdicts, checks = watched.observation, watched.verdicts, watched.checks
    failed = [name for name, v in verdicts.items() if v.status == "failed"]
    if told is not None:
        ending = told
    elif watched.timed_out:
        ending = f"timed out after {timeout:g}s"
    elif failed:
        ending = f"stopped waiting: {', '.join(failed)} failed"
    else:
        ending = "wait cancelled"
    reports = []
    for name, verdict in verdicts.items():
        state = observation.tasks.get(name)
        text = _state_text(observation, name, state)
        met = verdict.status == "met"
        reason = ""
        if verdict.status == "failed":
            reason = verdict.reason
        elif not met:
            reason = f"{ending}: {verdict.reason}"
        reports.append(
            TaskWait(
                task=name,
                met=met,
                state="running" if met and verdict.reason == "healthy" else text,
                reason=reason,
                running=bool(state and state.is_alive),
                pid=state.pid if state and state.is_alive else None,
                exit_code=_exit_code(state),
                signal=_signal(state),
                health=checks.get(name),
                logs=() if met else _run_lines(lifecycle, name, state),
            )
        )
    return tuple(reports)


def _run_lines(lifecycle: Facts, name: str, state: TaskState | None) -> tuple[str, ...]:
    """The last lines of the run being judged, and only those: an earlier run's ready
    line or error would mislead (none when this run printed nothing yet)."""
    if state is None or state.started_at is None:
        return ()
    return last_log_lines(lifecycle, name, since=state.started_at)


def _state_text(observation: Observation, name: str, state: TaskState | None) -> str:
    if state is None:
        return "killed" if name in observation.killed else "not started"
    return state.describe()


def _exit_code(state: TaskState | None) -> int | None:
    if state is None or not state.dead or state.exit_signal is not None:
        return None
    return state.exit_status


def _signal(state: TaskState | None) -> str | None:
    if state is None or not state.dead or state.exit_signal is None:
        return None
    return signal_name(state.exit_signal)


# `start --wait` ------------------------------------------------------------------------


def wait_started(
    lifecycle: Lifecycle,
    report: StartReport,
    timeout: float,
    stop: threading.Event | None = None,
    said_timeout: float | None = None,
    out_of_time: bool = False,
) -> WaitResult:
    """Wait until every task a start dealt with is ready (healthy per its probe and ready
    line; a one-shot: completed successfully), one fails for good, or `timeout` passes.

    Tasks the start could not start (failed, skipped) fail the wait at once; their reason
    is the start's ("skipped: dependency 'migrate' exited 1; ..."), the other facts
    (state, exit code, last log lines) are `wait`'s, as for every other task.
    """
    up = {*report.started, *report.completed, *report.already_running}
    broken = {*report.failed, *report.skipped}
    names = [n for n in lifecycle.config.tasks if n in up]
    shown = timeout if said_timeout is None else said_timeout
    ending = None
    if broken:  # the start failed already: one look at the rest, each with its own cause
        out_of_time = out_of_time or any(
            why.endswith("when the timeout ran out") for why in report.skipped.values()
        )
        ending = (
            f"timed out after {shown:g}s"
            if out_of_time
            else "not waited for: " + ", ".join(sorted(broken)) + " did not start"
        )
        timeout = 0.0
    result = wait_for(
        lifecycle, names, "ready", timeout, stop, said_timeout=said_timeout, ending=ending
    )
    reports = {t.task: t for t in result.tasks}
    for name in lifecycle.config.tasks:
        if name in report.skipped:  # never launched: earlier runs' lines say nothing
            reports[name] = _unstarted(name, f"skipped: {report.skipped[name]}", "not started")
        elif name in report.failed:
            reports[name] = _failed(name, report.failed[name], report.died.get(name))
    tasks = tuple(reports[n] for n in lifecycle.config.tasks if n in reports)
    return replace(result, tasks=tasks, timed_out=result.timed_out or bool(out_of_time))


def _unstarted(name: str, reason: str, state: str) -> TaskWait:
    """A task the start skipped: the start's reason; no run, so no lines."""
    return TaskWait(name, False, state, reason, False, None, None, None)


def _failed(name: str, message: str, death: Death | None) -> TaskWait:
    """A task that failed to start: one line of cause (its output is in `logs`, once)."""
    if death is None:
        return _unstarted(name, f"failed to start: {message}", "not started")
    why = f"failed to start: {death.state} within {death.window:g}s of its start"
    return TaskWait(
        name, False, death.state, why, False, None, death.exit_code, death.signal, None, death.logs
    )


def start_and_wait(
    lifecycle: Lifecycle,
    names: list[str] | None = None,
    with_deps: bool = False,
    timeout: float = 60.0,
    stop: threading.Event | None = None,
    kill_port: bool = False,
) -> tuple[StartReport, WaitResult]:
    """`start [--with-deps] --wait`: start, then wait for what was started to be ready.

    `timeout` bounds the whole call: waits for dependencies inside the start end with it,
    and the wait gets what is left.
    """
    began = time.monotonic()
    deadline = began + max(0.0, timeout)
    report = lifecycle.start(names, with_deps=with_deps, deadline=deadline, kill_port=kill_port)
    left = max(0.0, timeout - (time.monotonic() - began))
    result = wait_started(lifecycle, report, left, stop, timeout, out_of_time=left <= 0)
    return report, replace(result, timeout=timeout, elapsed=time.monotonic() - began)
