"""Health checks: a task's probe and ready line, the verdict on its window, `health`."""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from taskmux.config.schema import TaskConfig
from taskmux.errors import TaskmuxError
from taskmux.lifecycle.context import Context
from taskmux.lifecycle.health_report import HealthReport, expectation, task_health
from taskmux.lifecycle.results import Checked
from taskmux.runtime.health import CheckResult
from taskmux.runtime.paneformat import Health
from taskmux.runtime.probes import run_probe
from taskmux.runtime.state import TaskState, in_start_period, next_health, same_run
from taskmux.statedir.filelock import locked


class Checks:
    """Runs health checks for one project and keeps their verdicts on the task windows."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def check(self, name: str, state: TaskState | None, count: bool = False) -> CheckResult:
        """Run a task's health check (or liveness) and share the verdict on its window."""
        return self.checked(name, state, count).result

    def probe(
        self, name: str, state: TaskState | None, timeout: float | None = None
    ) -> CheckResult:
        """Run a task's probe and look for its ready line (`wait`, which polls fast).

        Only a pass is stored on the window (uncounted, as `health` does), so `status`
        agrees with a wait that succeeded; a failure of a task still coming up is not.
        """
        result, passed, ready = self._probe(name, state, timeout)
        if result.healthy and state is not None:
            self._record(name, state, result, passed, ready, count=False)
        return result

    def _probe(
        self, name: str, state: TaskState | None, timeout: float | None = None
    ) -> tuple[CheckResult, bool, bool]:
        """(the check's result, whether the probe passed, whether the ready line was seen)."""
        task = self.ctx.project.task(name)
        if state is None or state.dead:
            what = "not running" if state is None else state.exit_text()
            return CheckResult(False, None, what, 0.0, kind="process"), False, False
        try:  # the probe sees the task's environment; `${tasks.NAME.port}` expands in it
            probing, env = self._probe_settings(name, task), self.ctx.hook_env(name)
        except TaskmuxError as exc:  # its env file went missing: the probe cannot run
            return CheckResult(False, None, f"probe not run: {exc.message}", 0.0), False, False
        probed = run_probe(probing, self.ctx.project.task_cwd(name), timeout, env)
        result = probed or CheckResult(True, None, "process alive", 0.0, kind="process")
        ready = True
        if task.ready_log is not None:
            ready = self.ready_seen(name, task, state)
            result = result.with_ready_line(task.ready_log, ready)
        return result, probed is None or probed.healthy, ready

    def _probe_settings(self, name: str, task: TaskConfig) -> TaskConfig:
        """The task's probe as it runs: ports expanded, `health_tcp = true` on its real port."""
        changes: dict[str, Any] = {}
        if task.health_check is not None:
            changes["health_check"] = self.ctx.expand(task.health_check)
        if task.health_url is not None:
            changes["health_url"] = self.ctx.expand(task.health_url)
        if task.health_tcp is True and task.auto_port:
            changes["health_tcp"] = self.ctx.port_of(name)
        return dataclasses.replace(task, **changes) if changes else task

    def ready_seen(self, name: str, task: TaskConfig, state: TaskState) -> bool:
        """Whether the run `state` shows printed its ready line; remembered on its window."""
        if task.ready_log is None or state.ready_seen:
            return True
        if state.started_at is None:
            return False
        from taskmux.logs.lines import TaskLog

        log = TaskLog(name, self.ctx.paths.log_file(name))
        if not self.ctx.ready_scanner.seen(
            log, task.ready_log, state.started_at, task.health_timeout
        ):
            return False
        self.ctx.tmux.set_ready(state.window_id, state.started_at)
        return True

    def checked(self, name: str, state: TaskState | None, count: bool = False) -> Checked:
        """Run a task's health check and store the verdict; say what it was before and after.

        Only the supervisor, checking on the task's own `health_interval`, passes
        `count=True`: its checks make the failure streak that marks a task unhealthy
        (at `health_retries`) and triggers a restart; inside `health_start_period` its
        failed checks do not count. Any other check records its result and keeps the
        streak as it finds it on the window just before writing, so a burst of
        `taskmux health` calls from an agent neither restarts a slow starter nor hides a
        failing one. A ready line not printed yet makes the task not healthy, but is not
        a failure: only the probe's failures make the streak.
        """
        result, passed, ready = self._probe(name, state, None)
        if state is None:
            return Checked(result)
        return self._record(name, state, result, passed, ready, count)

    def _record(
        self,
        name: str,
        state: TaskState,
        result: CheckResult,
        passed: bool,
        ready: bool,
        count: bool,
    ) -> Checked:
        """Store a check's verdict on the task's window (see `checked`)."""
        task = self.ctx.project.task(name)
        if state.dead or not task.needs_check:
            return Checked(result)
        run = state.started_at
        if not count and _already_stored(state.health, task, result, passed, ready, run):
            return Checked(result, state.health, state.health)
        # One reader-writer of the streak at a time, across processes: a `taskmux
        # health` that read the streak before the supervisor's check raised it would
        # otherwise write it back lower (and a second `health_failed` would follow).
        with locked(self.ctx.paths.health_lock(name)):
            # The supervisor is the only one to change the streak, so what it saw is
            # still current; any other check reads the window again, after it ran.
            current = state if count else self.ctx.observe().tasks.get(name)
            if current is None or current.dead or not same_run(current.started_at, run):
                return Checked(result)  # the run that was checked is over: its verdict is moot
            before = current.health
            now = time.time()
            up = current.running_since
            counted = count and (passed or not in_start_period(task.health_start_period, up, now))
            after = next_health(
                before, passed, counted, task.health_retries, now, run, result.reason, ready
            )
            self.ctx.tmux.set_health(current.window_id, after)
        if after.healthy and run is not None and not _was_ready(before, run):
            # The first pass of this run: how long it took is what `graph` shows.
            up = current.running_since or run
            self.ctx.events.append("ready", name, after=round(max(0.0, now - up), 3))
        return Checked(result, before, after)

    def health(self) -> HealthReport:
        """Every task's health; checks of the running ones run concurrently, each with its
        own timeout. Tasks nobody meant to run are reported, not checked."""
        observation = self.ctx.observe()
        names = list(self.ctx.config.tasks)
        expected = {
            n: expectation(
                self.ctx.config.tasks[n], observation.tasks.get(n), n in observation.killed
            )
            for n in names
        }
        alive = [n for n in names if expected[n][0] == "check"]
        results: dict[str, CheckResult] = {}
        if alive:
            with ThreadPoolExecutor(max_workers=min(32, len(alive))) as pool:
                futures = {n: pool.submit(self.check, n, observation.tasks[n]) for n in alive}
                results = {n: f.result() for n, f in futures.items()}
        now = time.time()
        starting = {
            n
            for n in alive
            if in_start_period(
                self.ctx.config.tasks[n].health_start_period,
                observation.tasks[n].running_since,
                now,
            )
        }
        return HealthReport(
            {n: task_health(n, *expected[n], results.get(n), n in starting) for n in names}
        )


def _already_stored(
    stored: Health | None,
    task: TaskConfig,
    result: CheckResult,
    passed: bool,
    ready: bool,
    run: float | None,
) -> bool:
    """Whether an uncounted check (`health`, a wait's poll) found what the window holds:
    the same run's verdict, reason and limit, written less than a `health_interval` ago.
    Such a check writes nothing (it could change only the time of the last check, which
    stays within one interval) and so costs no look at tmux either: a wait that polls a
    dependency every 0.25 s rewrites its verdict when it changes, not on every poll.
    The streak is never an uncounted check's to change, so leaving it is exact."""
    if stored is None or not same_run(stored.run, run):
        return False
    return (
        stored.healthy == (passed and ready)
        and stored.reason == result.reason
        and stored.retries == max(1, task.health_retries)
        and 0 <= time.time() - stored.checked_at < task.health_interval
    )


def _was_ready(before: Health | None, run: float) -> bool:
    """Whether this run had passed a check already (its `ready` event is written)."""
    return before is not None and bool(before.healthy) and same_run(before.run, run)
