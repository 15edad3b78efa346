"""Starting in dependency order (SPEC §3, §9): waves of ready tasks launched together, each
dependency's condition waited for, dependents of a failure skipped at once; `restart`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from taskmux.config.deps import start_order, transitive_dependencies
from taskmux.config.schema import Condition, Dependency
from taskmux.errors import TaskmuxError
from taskmux.lifecycle.checks import Checks
from taskmux.lifecycle.context import Context
from taskmux.lifecycle.launch import Launcher
from taskmux.lifecycle.leftovers import end_leftovers
from taskmux.lifecycle.readiness import dependency_verdict, met_at_launch, unmet_word
from taskmux.lifecycle.results import Death, Launched, Progress, StartReport
from taskmux.lifecycle.stale import stale_tasks, why_stale
from taskmux.lifecycle.stop import Stopper
from taskmux.lifecycle.waiting import wait_dependency
from taskmux.logs.stopflag import StopFlag
from taskmux.runtime.tmux_manager import Observation
from taskmux.statedir.claim import supervisor_running


class Starter:
    """Starts and restarts the tasks of one project."""

    def __init__(self, ctx: Context, launcher: Launcher, checks: Checks, stopper: Stopper) -> None:
        self.ctx = ctx
        self.launcher = launcher
        self.checks = checks
        self.stopper = stopper

    def start(
        self,
        names: list[str] | None = None,
        with_deps: bool = False,
        deadline: float | None = None,
        kill_port: bool = False,
    ) -> StartReport:
        """Start tasks in dependency order; independent ones together. See SPEC §3 and §9.

        `with_deps`: also start everything the named tasks depend on, transitively.
        `deadline` (a `time.monotonic()` value): waits for dependencies give up then.
        `kill_port`: this start frees its tasks' ports from whatever holds them that we
        may signal (see `Launcher.launch`); it applies to this call only.
        """
        ctx = self.ctx
        report = StartReport()
        order = start_order(ctx.config.graph(), self._wanted(names, with_deps))
        observation = ctx.observe()
        report.session = observation.session
        running = {n for n, s in observation.tasks.items() if s.is_alive}
        report.already_running = [n for n in order if n in running]
        for name in report.already_running:
            ctx.report(Progress(name, "running", "already running"))
        to_launch = [n for n in order if n not in running]
        in_scope = set(order) | running
        explicit = names is not None
        report.warnings += self._outside_dependencies(order, in_scope, observation, explicit)
        if not to_launch:
            return report
        for name in to_launch:  # a config error in any task's env: nothing runs
            ctx.variables(name)
        end_leftovers(ctx, self.stopper, to_launch, observation)  # a lost session's
        ctx.hook("before_start", None)
        self._start_in_order(to_launch, in_scope, report, deadline, kill_port)
        if report.started or report.completed:
            try:
                ctx.hook("after_start", None)
            except TaskmuxError as exc:
                report.warnings.append(exc.message)
        self._name_stale(report)
        return report

    def _name_stale(self, report: StartReport) -> None:
        """Without a supervisor (which restarts them itself), name the running tasks whose
        environment holds a port that moved, e.g. in this start: they need a restart
        (`taskmux restart`; a later `ensure` can read the same facts from `status`)."""
        ctx = self.ctx
        if not any(s.built_from for s in (ctx.last_sight or Observation(False)).tasks.values()):
            return  # nothing was launched with another task's port (no round trip)
        if supervisor_running(ctx.paths.supervisor_lock):
            return
        # A task launched by this start counts too: its wave may have read a port that a
        # task launched beside it then had to change.
        found = stale_tasks(ctx.config, str(ctx.paths.root), ctx.observe())
        for name, moved in found.items():
            why = why_stale(moved)
            report.needs_restart[name] = why
            report.warnings.append(
                f"task '{name}' needs a restart: it still has the old port ({why}); "
                f"run `taskmux restart {name}`"
            )

    def _wanted(self, names: list[str] | None, with_deps: bool) -> list[str]:
        """The tasks a start is about: the named ones (with their dependencies), or every
        `auto_start` task."""
        config = self.ctx.config
        if names is None:
            wanted = [n for n, t in config.tasks.items() if t.auto_start]
            wanted = wanted if config.auto_start else []
        else:
            self.ctx.project.check_names(names)
            wanted = list(dict.fromkeys(names))
        return transitive_dependencies(config.graph(), wanted) if with_deps else wanted

    def restart(self, names: list[str] | None = None, kill_port: bool = False) -> StartReport:
        """Full stop, port cleanup, start in place; clears manual-stop marks and counts."""
        ctx = self.ctx
        if names is None:
            observation = ctx.observe()
            names = [
                n for n, t in ctx.config.tasks.items() if t.auto_start or n in observation.tasks
            ]
        else:
            ctx.project.check_names(names)
        observation = ctx.observe()
        for name in names:  # a config error in an env: refuse before stopping anything
            ctx.variables(name)
        present = [n for n in names if n in observation.tasks]
        if present:
            stop_report = self.stopper.stop(present)
            if stop_report.failed:
                return StartReport(failed=dict(stop_report.failed))
        return self.start(names, kill_port=kill_port)

    def wait_condition(
        self,
        name: str,
        condition: Condition,
        cancel: threading.Event | None = None,
        deadline: float | None = None,
    ) -> str | None:
        """Wait until a started dependency meets `condition` (see `wait_dependency`)."""
        return wait_dependency(self.ctx, self.checks.check, name, condition, cancel, deadline)

    def _outside_dependencies(
        self, order: list[str], in_scope: set[str], observation: Observation, explicit: bool
    ) -> list[str]:
        """A warning for each dependency this start leaves out and that does not meet its
        condition already (a migration that completed earlier does)."""
        project = self.ctx.project
        warnings = []
        why = "not started with it; --with-deps starts it too" if explicit else "auto_start = false"
        for name in order:
            for dep in project.task(name).depends_on:
                if dep.task in in_scope:
                    continue
                state = observation.tasks.get(dep.task)
                verdict = dependency_verdict(dep.condition, project.task(dep.task), state)
                if verdict.status != "met":
                    warnings.append(
                        f"task '{name}': dependency '{dep.task}' {unmet_word(dep.condition)} ({why})"
                    )
        return warnings

    def _start_in_order(
        self,
        to_launch: list[str],
        in_scope: set[str],
        report: StartReport,
        deadline: float | None,
        kill_port: bool,
    ) -> None:
        cancel = StopFlag()  # wakes a dependency wait asleep on a pidfd
        workers = max(4, sum(len(self.ctx.project.task(n).depends_on) for n in to_launch))
        with ThreadPoolExecutor(max_workers=min(32, workers)) as pool:
            schedule = _Schedule(self, in_scope, report, pool, cancel, deadline, kill_port)
            try:
                schedule.run(list(to_launch))
            finally:
                cancel.set()  # let waits still running end now (Ctrl+C, or nothing left)

    def launch_wave(
        self,
        ready: list[str],
        kill_port: bool,
        on_launched: Callable[[list[str]], None] | None = None,
        follows: dict[str, set[str]] | None = None,
    ) -> Launched:
        """Launch one wave and watch it through the settle window; `on_launched` hears
        which tasks tmux runs as soon as it does; `follows`: each task's dependencies in
        the wave (see `Launcher.launch`)."""
        settle = self.ctx.timing.settle
        return self.launcher.launch(
            ready, settle=settle, kill_port=kill_port, on_launched=on_launched, follows=follows
        )

    @staticmethod
    def sort_wave(
        ready: list[str], launched: Launched, report: StartReport, broken: dict[str, str]
    ) -> None:
        """Sort a settled wave's tasks into the report; failures go to `broken`."""
        failures = launched.failures
        report.died |= launched.died
        for name in ready:
            if name in launched.held:  # never launched: the schedule skips it, with why
                continue
            if name in failures:
                report.failed[name] = failures[name].message
                report.error_codes[name] = failures[name].code
                death = launched.died.get(name)
                # The cause's sentence is the task's own line; a dependent's names it short.
                why = death.state if death else f"{failures[name].code}, see '{name}'"
                broken[name] = f"failed to start ({why})"
                continue
            if name in launched.daemonized:
                report.warnings.append(launched.daemonized[name])
            if name in launched.completed:
                report.completed.append(name)
            elif name in launched.refused:  # a racing `start` launched it
                report.already_running.append(name)
            else:
                report.started.append(name)


@dataclass
class _Schedule:
    """One start's schedule: launch each task once its dependencies meet their conditions;
    skip those whose cannot, at once, with the reason.

    Each wave of ready tasks is launched together and settles together (in a worker): a
    task that dies within the settle window failed to start, and its dependents that are
    still waiting are skipped. `started` is met by the launch itself, before the settle
    window, and so is `healthy` for a task with nothing to wait for (`met_at_launch`): a
    chain of such dependencies costs a tmux round trip per level. The other conditions
    are waited for (in a worker) once the dependency was launched; those waits share
    their tmux reads (`Context.observe`)."""

    starter: Starter
    in_scope: set[str]
    report: StartReport
    pool: ThreadPoolExecutor
    cancel: threading.Event
    deadline: float | None
    kill_port: bool
    up: set[str] = field(default_factory=set)  # launched, or running before this start
    met: set[tuple[str, str]] = field(default_factory=set)
    unmet: dict[tuple[str, str], str] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)  # failed to start, or skipped
    waits: dict[Future[str | None], tuple[str, str]] = field(default_factory=dict)
    waves: dict[Future[Launched], list[str]] = field(default_factory=dict)  # settling
    asked: set[tuple[str, str]] = field(default_factory=set)
    healthy_asked: set[str] = field(default_factory=set)  # some task needs it healthy

    def run(self, pending: list[str]) -> None:
        self.healthy_asked = {
            d.task for n in pending for d in self._task_deps(n) if d.condition == "healthy"
        }
        for name in self.in_scope:
            if name not in pending:
                self._mark_up(name)
        try:
            while pending:
                ready, pending = self._sort(pending)
                if ready:
                    wave, follows, pending = self._chained(ready, pending)
                    pending = self._launch(wave, follows) + pending
                    continue  # their dependents' waits start in the next round
                if not pending:
                    break
                if not self.waits and not self.waves:  # nothing left that could unblock them
                    for name in pending:
                        self.report.skipped[name] = "its dependencies were not started"
                    break
                self._take_finished()
            while self.waves:  # the report is complete once every wave has settled
                self._take_finished()
        finally:
            for future in self.waits:
                future.cancel()

    def _sort(self, pending: list[str]) -> tuple[list[str], list[str]]:
        """(ready to launch, still blocked); the ones that can never start are skipped."""
        ready, blocked = [], []
        for name in pending:
            deps = [d for d in self._task_deps(name) if d.task in self.in_scope]
            reason = _blocking_reason(deps, self.broken, self.unmet, self.met)
            if reason is not None:
                self.report.skipped[name] = reason
                self.broken[name] = "was skipped"
                self.starter.ctx.report(Progress(name, "skipped", reason))
                continue
            waiting = [d for d in deps if (d.task, d.condition) not in self.met]
            if not waiting:
                ready.append(name)
                continue
            blocked.append(name)
            for dep in waiting:
                self._ask(dep)
            words = ", ".join(_condition_text(d.task, d.condition) for d in waiting)
            self.starter.ctx.report(Progress(name, "waiting", "waiting for " + words))
        return ready, blocked

    def _task_deps(self, name: str) -> list[Dependency]:
        return list(self.starter.ctx.project.task(name).depends_on)

    def _ask(self, dep: Dependency) -> None:
        """Start waiting (in a worker) for a launched dependency's condition, once."""
        key = (dep.task, dep.condition)
        if dep.task not in self.up or key in self.asked:
            return
        self.asked.add(key)
        future = self.pool.submit(
            self.starter.wait_condition, dep.task, dep.condition, self.cancel, self.deadline
        )
        self.waits[future] = key

    def _chained(
        self, ready: list[str], pending: list[str]
    ) -> tuple[list[str], dict[str, set[str]], list[str]]:
        """(the wave, each task's dependencies in it, still pending): the ready tasks, and
        the pending ones whose every unmet dependency is in the wave and met by its launch
        (`met_at_launch`), listed after it: tmux starts them in that order, in the same
        round trip, so a chain of instant tasks costs one launch, not one per level.

        Not chained: a task with a `before_start` hook (it runs before its launch: the
        dependency must run by then), or one whose dependency has an automatic port (its
        own launch may move that port, which the dependent's environment reads)."""
        project = self.starter.ctx.project
        wave, follows, rest = list(ready), {}, []
        members = set(ready)
        for name in pending:  # in start order: a task's dependencies come before it
            deps = [d for d in self._task_deps(name) if d.task in self.in_scope]
            waiting = [d for d in deps if (d.task, d.condition) not in self.met]
            hooked = project.task(name).hooks.before_start
            if not hooked and all(self._met_in(d, members) for d in waiting):
                wave.append(name)
                members.add(name)
                follows[name] = {d.task for d in waiting}
            else:
                rest.append(name)
        return wave, follows, rest

    def _met_in(self, dep: Dependency, wave: set[str]) -> bool:
        """Whether launching `wave` meets `dep` (and moves no port its dependent reads)."""
        task = self.starter.ctx.project.task(dep.task)
        return dep.task in wave and met_at_launch(dep.condition, task) and not task.auto_port

    def _launch(self, ready: list[str], follows: dict[str, set[str]]) -> list[str]:
        """Launch a wave in a worker and go on once tmux runs it (its settle window goes
        on in that worker); a wave that launched less than all is waited for whole. The
        tasks held back (a dependency in the wave failed before its launch) are returned,
        to be skipped with that reason."""
        running: Future[list[str]] = Future()
        wave = self.pool.submit(
            self.starter.launch_wave, ready, self.kill_port, running.set_result, follows
        )
        self.waves[wave] = ready
        either: list[Future[Any]] = [running, wave]
        wait(either, return_when=FIRST_COMPLETED)
        fresh = running.result() if running.done() else []
        if set(fresh) != set(ready):  # a failure before the launch: known in full at its end
            held = wave.result().held
            self._settled(wave)
            return list(held)
        for name in fresh:
            self._mark_up(name)
        return []

    def _mark_up(self, name: str) -> None:
        """A task that runs (launched now, or before this start): the conditions it meets
        by that alone are met."""
        if name in self.up:
            return
        self.up.add(name)
        task = self.starter.ctx.project.task(name)
        for condition in ("started", "healthy"):
            if met_at_launch(condition, task):
                self.met.add((name, condition))
        if name in self.healthy_asked and (name, "healthy") in self.met:
            self.starter.ctx.report(Progress(name, "healthy"))

    def _settled(self, wave: Future[Launched]) -> None:
        ready = self.waves.pop(wave)
        launched = wave.result()
        self.starter.sort_wave(ready, launched, self.report, self.broken)
        for name in ready:
            if name in launched.held:
                continue
            if name not in self.broken:
                self._mark_up(name)
            elif _exited(self.report.died.get(name)):  # it ran, and ended: "completed"
                self.met.add((name, "completed"))

    def _take_finished(self) -> None:
        """Take in whatever finished first: settled waves, dependency waits."""
        futures: list[Future[Any]] = [*self.waits, *self.waves]
        done, _ = wait(futures, return_when=FIRST_COMPLETED)
        for future in done:
            if future in self.waves:
                self._settled(future)
                continue
            if future not in self.waits:
                continue  # a wave taken in already, for a dependency of it that failed
            dep_name, condition = self.waits.pop(future)
            problem = future.result()
            if problem is not None:
                self.unmet[(dep_name, condition)] = problem
                # A death in its own settle window is a failed start: say that, not this.
                for wave, names in list(self.waves.items()):
                    if dep_name in names:
                        self._settled(wave)
                continue
            self.met.add((dep_name, condition))
            if condition == "healthy" and dep_name not in self.report.completed:
                self.starter.ctx.report(Progress(dep_name, "healthy"))


def _blocking_reason(
    deps: list[Dependency],
    broken: dict[str, str],
    unmet: dict[tuple[str, str], str],
    met: set[tuple[str, str]],
) -> str | None:
    """Why a task cannot start: a dependency failed to start, was skipped, or can no
    longer meet its condition (None: nothing rules it out yet). A quick failure is still
    a completion, for a dependent that only needs one."""
    for dep in deps:
        if (dep.task, dep.condition) in met:
            continue
        if dep.task in broken:
            return f"dependency '{dep.task}' {broken[dep.task]}"
        problem = unmet.get((dep.task, dep.condition))
        if problem is not None:
            return f"dependency '{dep.task}' {problem}"
    return None


def _condition_text(task: str, condition: str) -> str:
    return task if condition == "healthy" else f"{task} ({condition.replace('_', ' ')})"


def _exited(death: Death | None) -> bool:
    """Whether a task that failed to start did run and end (not: its window vanished)."""
    return death is not None and (death.exit_code is not None or death.signal is not None)
