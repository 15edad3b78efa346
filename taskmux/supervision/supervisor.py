"""Supervision shared by `taskmux start -m` and the daemon: notice exits, run health
checks on their own schedules, and carry out the restart decision of `restart.py`.

The loop sleeps until something happens (`exitwatch.py`): a task's process or the tmux
server ends (the kernel's notice, through a pidfd), another taskmux process launches a
task (a poke, `wakeup.py`), a health check, scheduled restart or file change falls due,
or one of its worker threads finishes. Then it reads tmux once and acts. A slow sweep
looks at tmux anyway for what no notice reports (a window a person respawned by hand);
without pidfds it falls back to polling twice a second.
Health checks and restarts run in worker threads and never delay the loop.
Everything that must survive this process (counts, marks, scheduled restarts) lives on
the task's tmux window, so a supervisor started after a crash carries on where the
last one stopped.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from taskmux.config.schema import TaskConfig
from taskmux.errors import StopFailed, TaskmuxError
from taskmux.lifecycle.named_urls import proxy_port
from taskmux.lifecycle.restart import (
    Action,
    Decision,
    after_failed_restart,
    decide,
    history_of,
    observed_of,
    policy_of,
)
from taskmux.lifecycle.results import Checked
from taskmux.lifecycle.stale import stale_tasks
from taskmux.runtime.state import TaskState, same_run
from taskmux.runtime.timing import Timing, wait_until
from taskmux.runtime.tmux_manager import Observation
from taskmux.runtime.wakeup import Listener
from taskmux.statedir.claim import Claim as Claim
from taskmux.statedir.claim import claim_supervision as claim_supervision
from taskmux.statedir.claim import describe_holder as describe_holder
from taskmux.statedir.claim import read_holder as read_holder
from taskmux.statedir.claim import supervisor_running as supervisor_running
from taskmux.supervision.change_restart import restart_for_change
from taskmux.supervision.check_outcome import health_event, is_quiet
from taskmux.supervision.exitwatch import ExitWatch
from taskmux.supervision.filewatch import Change, FileWatcher, should_restart
from taskmux.supervision.notify import Notifier
from taskmux.supervision.recovery import RecoveryPlan, recovery_plan, session_lost
from taskmux.supervision.relaunch import recover
from taskmux.supervision.scheduler import Scheduler
from taskmux.supervision.seam import LifecycleSeam, Supervised
from taskmux.supervision.stale_restart import restart_stale
from taskmux.supervision.statusline import StatusLine

if TYPE_CHECKING:
    from taskmux.lifecycle.core import Lifecycle
    from taskmux.service import Service
    from taskmux.supervision.proxy.keeper import ProxyKeeper


class Supervisor:
    """Applies restart policies to every task of one project until told to stop."""

    def __init__(
        self,
        service: Service | Callable[[], Supervised],
        clock: Callable[[], float] = time.time,
        notify: Callable[[str], None] | None = None,
        seen: Observation | None = None,
        timing: Timing | None = None,
    ) -> None:
        """`service`: the project to supervise: a `Service` (its config in use is read
        afresh on every tick), or what gives the `Supervised` project on each tick.
        `seen`: the session as the process last saw it before supervising (`start -m`'s
        own start), so a tmux server that dies before the first tick is still a loss.
        `timing`: its pauses (None: the project's)."""
        self._seams: list[tuple[Lifecycle, Supervised]] = []  # the last lifecycle's seam
        if callable(service):
            self._source: Callable[[], Supervised] = service
        else:
            self._source = partial(self._seam_of, service)
            service.config.on_replace(self.wake)  # a reload may change what is watched
        self._timing = timing
        self.clock = clock
        self.notify = notify  # a line for a person (the daemon's log, start -m's screen)
        self.notice = ""  # the last such line
        # Separate pools: sixteen hanging health checks must not hold up a restart.
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="taskmux-check")
        self.action_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="taskmux-act")
        self.checks: dict[str, Future[Checked]] = {}
        self.next_check: dict[str, float] = {}
        self.actions: dict[str, Future[object]] = {}
        self.snapshot = Observation(session_exists=False)
        # The last sight of the session (config name, observation).
        self._seen: tuple[str, Observation] | None = (
            (self.supervised.config.name, seen) if seen is not None else None
        )
        self._recovery: Future[object] | None = None
        self._lock = threading.Lock()
        self.files: FileWatcher | None = None  # created once some task has `watch`
        self._watching = False  # while `run` runs
        self._watched: tuple[tuple[str, ...], tuple[tuple[str, bool], ...]] = ((), ())
        self._watched_for: Supervised | None = None  # the config whose `watch` is in force
        self._exits: ExitWatch | None = None  # while `run` runs
        self._dues: list[float] = []  # clock times at which this tick wants another
        self._collector: int | None = None  # the log collector's pid, while tasks run
        self._stale_done: set[tuple[str, float | None]] = set()  # runs restarted as stale
        self.schedules = Scheduler()  # scheduled one-shots' next times
        self.status_line = StatusLine()  # the session's tags, while `run` runs
        # Ticks completed: one that began after a change has seen it (what a test waits
        # for instead of a while in which the supervisor may or may not have looked).
        self.ticks = 0

    def _seam_of(self, service: Service) -> Supervised:
        """The seam of the service's lifecycle, the same object while the config is."""
        current = service.lifecycle()
        if not self._seams or self._seams[0][0] is not current:
            self._seams[:] = [(current, LifecycleSeam(current))]
        return self._seams[0][1]

    @property
    def supervised(self) -> Supervised:
        """The project of the config in use: a reload that replaced it applies at once."""
        return self._source()

    @property
    def lifecycle(self) -> Supervised:
        """The project as `supervised` gives it (the name `start -m`'s display uses)."""
        return self.supervised

    @property
    def timing(self) -> Timing:
        return self._timing if self._timing is not None else self.supervised.timing

    def watch_files(self, project: Supervised) -> None:
        """Watch the files of `project`'s tasks that have `watch` patterns (only those,
        replacing what was watched); no observer at all while no task has any."""
        specs = project.watch_specs()
        with self._lock:
            if not self._watching:
                return  # `run` watches the project it starts with
            if self.files is None:
                if not specs:
                    return
                self.files = FileWatcher(self.timing.file_debounce)
                self.files.on_notice = self.wake
            files = self.files
        files.update(specs, [os.path.realpath(project.state_root)])
        watched = (tuple(sorted(specs)), files.folders)
        if watched != self._watched:
            self._watched = watched
            folders = [folder + ("/**" if deep else "") for folder, deep in watched[1]]
            project.record("watching", None, tasks=list(watched[0]), folders=folders)

    def run(self, stop: threading.Event) -> None:
        last_error = ""
        exits = ExitWatch(Listener.bind(self.supervised.state_root))
        proxy = _keep_proxy(self.supervised.config.proxy_port)  # SPEC §14: named URLs
        with self._lock:
            self._watching = True
            self._exits = exits
        notifier = Notifier(lambda: self.supervised)
        notifier.start(self.supervised.state_root / "events.jsonl")
        try:
            woken = True
            next_tick = 0.0
            while not stop.is_set():
                if woken or time.monotonic() >= next_tick:
                    try:
                        self.tick()
                        self.status_line.show(self.supervised, self.snapshot, self.clock())
                        exits.follow(self._watched_pids())
                        last_error = ""
                        next_tick = time.monotonic() + self._pause(self._notified(exits))
                    except Exception as exc:  # noqa: BLE001 - one bad tick (tmux restarting, a
                        # config mid-reload) must not end supervision; it is recorded, once,
                        # and the next tick comes as soon as a poll's would.
                        if str(exc) != last_error:
                            last_error = str(exc)
                            self.supervised.record("supervisor_error", None, error=last_error)
                        next_tick = time.monotonic() + self.timing.poll
                # Sleep on the exits (and pokes, and `wake`) until the next tick is due.
                pause = min(self.timing.stop_check, next_tick - time.monotonic())
                woken = bool(exits.wait(pause))
        finally:
            with self._lock:
                self._watching = False
                self._exits = None
                files, self.files = self.files, None
            if files is not None:
                files.stop()
            notifier.close()
            self._end_views()
            exits.close()
            if proxy is not None:
                proxy.stop()
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.action_pool.shutdown(wait=False, cancel_futures=True)

    def _end_views(self) -> None:
        """Nothing keeps them current any more: no next runs, no tags on the session."""
        project = self.supervised
        try:
            self.schedules.close(project.state_root)
            self.status_line.clear(project)
        except (OSError, TaskmuxError) as exc:  # the tmux server may be gone already
            project.record("supervisor_error", None, error=f"ending supervision: {exc}")

    def wake(self) -> None:
        """Look at tmux again now (from any thread): a check or an action finished."""
        exits = self._exits
        if exits is not None:
            exits.wake()

    @staticmethod
    def _notified(exits: ExitWatch) -> bool:
        """Whether every death and launch reaches the loop as a notice: pidfds work, pokes
        can arrive, and tmux lists no pid the kernel says is gone (a pane whose death tmux
        has not taken in, or a tmux server in another pid namespace). Else it polls."""
        return exits.available and exits.listener is not None and not exits.missing

    def _watched_pids(self) -> set[int]:
        """The processes whose end must wake the loop: each live task's, tmux's, and the
        log collector's while tasks run (a crashed one is started again)."""
        snapshot = self.snapshot
        pids = {s.pid for s in snapshot.tasks.values() if s.is_alive and s.pid}
        if snapshot.server_pid:
            pids.add(snapshot.server_pid)
        if self._collector is not None and self._collector > 0:
            pids.add(self._collector)
        return pids

    def _keep_collecting(self, project: Supervised, observation: Observation) -> None:
        """While any task runs, a log collector must (nothing is lost while none does: the
        output waits in the spools, but it is stamped late). A missing one is started; one
        this loop watched that died is an event; a failure here is recorded and does not
        hold up the rest of the tick."""
        self._collector = None
        if not any(s.is_alive for s in observation.tasks.values()):
            return
        try:
            pid = project.collector_pid()
            if pid is None:  # one a launcher just started may not hold its lock yet: a
                # second then finds the lock taken and exits; only a crash is an event,
                project.ensure_collector()  # recorded by logs/spool.py (issue 23, item 4)
            self._collector = pid if pid is not None and pid > 0 else None
        except (OSError, TaskmuxError) as exc:
            project.record("supervisor_error", None, error=f"log collector: {exc}")

    def _pause(self, notified: bool) -> float:
        """Until the next tick nothing else wakes: the sweep (or poll), or sooner when a
        health check, a scheduled restart or a file change falls due."""
        pause = self.timing.sweep if notified else self.timing.poll
        files = self.files
        due = files.next_due(self._busy()) if files is not None else None
        dues = [*self._dues, due] if due is not None else self._dues
        if dues:
            pause = min(pause, max(0.0, min(dues) - self.clock()))
        return pause

    def _busy(self) -> set[str]:
        return {name for name, action in self.actions.items() if not action.done()}

    def tick(self) -> None:
        project = self.supervised
        if project is not self._watched_for:  # first tick, or a reload replaced the config
            self._watched_for = project
            self.watch_files(project)
        now = self.clock()
        self._dues = []
        # Before reading tmux: an action that ends after that read left it stale for its task.
        busy = self._busy()
        observation = project.observe()
        self.snapshot = observation
        self._keep_collecting(project, observation)
        self._watch_session(project, observation, now)
        changes = self._due_changes(project, busy)
        for name, state in observation.tasks.items():
            task = project.config.tasks.get(name)
            if task is None:
                continue  # no longer in the config: left alone
            if name in busy:
                continue
            change = changes.get(name)
            if change is not None and self._restart_on_change(project, name, state, change):
                continue
            if self._note_exit(project, name, state):
                continue  # a check of what it left runs first; its end wakes the loop
            self._run_health(project, name, task, state, now)
            if task.is_scheduled:
                continue  # it runs again at its next time (`scheduler.py`), not by policy
            decision = decide(policy_of(task), observed_of(state), history_of(state), now)
            self._apply(project, name, state, decision, now)
        self._restart_stale(project, observation)
        self._dues += self.schedules.tick(
            project, observation, now, busy, partial(self._act, project)
        )
        self.ticks += 1

    def _restart_stale(self, project: Supervised, observation: Observation) -> None:
        """Restart, once per run, each running task whose environment holds another
        task's port that has moved since its launch (`lifecycle/stale.py`)."""
        runs = {(n, s.started_at) for n, s in observation.tasks.items()}
        self._stale_done &= runs  # forget runs that are over
        busy = self._busy()
        for name, moved in stale_tasks(
            project.config, str(project.state_root), observation
        ).items():
            run = (name, observation.tasks[name].started_at)
            if name in busy or run in self._stale_done or observation.tasks[name].manually_stopped:
                continue
            self._stale_done.add(run)
            self._act(project, name, restart_stale, project, name, moved, self._notify)

    def _note_exit(self, project: Supervised, name: str, state: TaskState) -> bool:
        """Record a death once (the `exited` event); whether that started a check for a
        server it forked away, which must end before a restart could take the port."""
        if not state.dead or state.seen_exit == state.death_id:
            return False
        checking = False
        if not state.manually_stopped:  # the event first: it is what callers wait for
            project.record(
                "exited",
                name,
                exit_code=state.exit_status,
                signal=state.exit_signal,
                description=state.exit_text(),
            )
            if state.exit_status == 0 and state.exit_signal is None:  # forked away?
                wait = self.timing.daemonized_watch
                self._act(project, name, project.note_daemonized, name, state, wait)
                checking = True
        project.note_exit_seen(state.window_id, state.death_id)
        return checking

    def _run_health(
        self, project: Supervised, name: str, task: TaskConfig, state: TaskState, now: float
    ) -> None:
        if not task.needs_check or state.dead or state.manually_stopped:
            self.next_check.pop(name, None)
            return
        future = self.checks.get(name)
        if future is not None:
            if not future.done():  # its end wakes the loop if it is news or overdue
                due = self.next_check.get(name)
                if due is not None and due > now:
                    self._dues.append(due)
                return
            del self.checks[name]
            checked = future.result()
            result = checked.result
            event = health_event(checked.before, checked.after, result.reason, result.output)
            if event is not None:
                project.record(event[0], name, **event[1])
            if checked.after is not None and same_run(checked.after.run, state.started_at):
                # This tick's observation may predate that verdict; the next check counts on.
                state = replace(state, health=checked.after)
        due = self.next_check.setdefault(name, (state.running_since or now) + task.health_interval)
        if now >= due:
            self.next_check[name] = due = now + task.health_interval
            self.checks[name] = check = self.pool.submit(project.check, name, state)
            check.add_done_callback(partial(self._check_done, name))
        self._dues.append(due)

    def _check_done(self, name: str, done: Future[Checked]) -> None:
        """Wake the loop for a check's result, unless it is a quiet pass (`is_quiet`) that
        the tick at the next check's due time (in `_dues`) will take in: each passing
        check of a healthy task then costs one look at tmux, not two."""
        due = self.next_check.get(name)
        failed = done.cancelled() or done.exception() is not None
        if (
            failed
            or due is None
            or self.clock() >= due
            or not is_quiet(done.result().before, done.result().after)
        ):
            self.wake()

    def _apply(
        self, project: Supervised, name: str, state: TaskState, decision: Decision, now: float
    ) -> None:
        if decision.action is Action.RESET:
            project.set_restarts(state.window_id, None)
            project.record("restart_count_reset", name, reason=decision.reason)
        elif decision.action is Action.GIVE_UP:
            project.give_up(state.window_id)
            project.record("gave_up", name, reason=decision.reason, restarts=state.restarts)
            if state.is_alive:  # still running but unhealthy: "gave up" leaves it stopped
                self._act(project, name, project.end_processes, name, state.pid)
        elif decision.action is Action.RESTART:
            due = state.next_restart_at
            if due is None:
                due = now + decision.delay
                if decision.delay > 0:  # on the window: a supervisor after a crash keeps it
                    project.schedule_restart(state.window_id, due)
                project.record(
                    "restart_scheduled",
                    name,
                    delay=round(decision.delay, 3),
                    reason=decision.reason,
                )
            if now >= due:  # at once: this tick's sight of the task is still current
                fresh = state if state.next_restart_at is None else None
                self._act(project, name, self._restart, project, name, decision.reason, fresh)
            else:
                self._dues.append(due)
        elif state.is_alive and state.next_restart_at is not None:
            # A restart was due for failing checks, but the task recovered: forget it.
            project.cancel_restart(state.window_id)

    def _act(
        self, project: Supervised, name: str, action: Callable[..., object], *args: object
    ) -> None:
        """Run an action in the background; a failure becomes an event, never silence."""
        future = self.action_pool.submit(action, *args)

        def report(done: Future[object]) -> None:
            error = done.exception() if not done.cancelled() else None
            if error is not None:
                project.record("supervisor_error", name, error=str(error))

        future.add_done_callback(report)
        future.add_done_callback(lambda _done: self.wake())
        self.actions[name] = future

    def _restart(
        self, project: Supervised, name: str, reason: str, seen: TaskState | None = None
    ) -> None:
        """Restart one task; `seen` is its state as the tick saw it a moment ago (a restart
        without delay), else it is read again (the delay may have changed things)."""
        state = seen if seen is not None else project.observe().tasks.get(name)
        if state is None or state.manually_stopped or state.gave_up:
            return
        if state.is_alive:  # unhealthy: stop it the usual way, without a manual mark
            try:
                project.end_processes(name, state.pid)
            except StopFailed as exc:  # a second copy must not run beside what survived
                project.count_restart(state.window_id)
                attempt = state.restarts + 1
                project.record("restart_failed", name, attempt=attempt, error=exc.message)
                self._after_failure(project, name, state, attempt, exc.message)
                return
            self._wait_for_death(project, name)
        # The launch reads tmux again under the task's lock: a stop by hand meanwhile wins.
        launched = project.relaunch([name], count_restart=True)
        if name in launched.refused:
            return  # stopped by hand meanwhile, or running again: nothing was restarted
        if name in launched.failures:  # nothing launched, so not counted by the launch
            project.count_restart(state.window_id)
        attempt = state.restarts + 1
        if name in launched.failures:
            error = launched.failures[name].message
            project.record("restart_failed", name, attempt=attempt, error=error)
            self._after_failure(project, name, state, attempt, error)
        else:
            project.record("restarted", name, attempt=attempt, reason=reason)
            task = project.config.tasks.get(name)
            if task is not None and task.restart_dependents:
                project.restart_dependents(name)  # once it is ready again

    def _after_failure(
        self, project: Supervised, name: str, state: TaskState, attempt: int, error: str
    ) -> None:
        """Schedule the next try of a restart that could not launch, after the backoff
        (the old mark is in the past: left there, every tick would try again at once)."""
        task = project.config.tasks.get(name)
        if task is None:
            return
        decision = after_failed_restart(policy_of(task), attempt, f"restart failed: {error}")
        if decision.action is Action.GIVE_UP:
            project.give_up(state.window_id)
            project.record("gave_up", name, reason=decision.reason, restarts=attempt)
            return
        if decision.delay > 0:
            project.schedule_restart(state.window_id, self.clock() + decision.delay)
        else:
            project.cancel_restart(state.window_id)  # restart_delay 0: again at once
        project.record(
            "restart_scheduled", name, delay=round(decision.delay, 3), reason=decision.reason
        )

    # Restarts on file changes ---------------------------------------------------------

    def _due_changes(self, project: Supervised, busy: set[str]) -> dict[str, Change]:
        """The file changes whose quiet period is over, for tasks with no action under way
        (a busy task's changes keep collecting: one restart in flight per task)."""
        files = self.files
        if files is None:
            return {}
        for error in files.take_errors():
            project.record("watch_error", None, error=error)
            self._notify(f"file watching: {error}")
        return {change.task: change for change in files.due(busy=busy)}

    def _restart_on_change(
        self, project: Supervised, name: str, state: TaskState, change: Change
    ) -> bool:
        """Start a restart for a due change if the task runs (or gave up) and nobody
        stopped it (see `should_restart`); whether one was started."""
        if not should_restart(
            state.is_alive, state.manually_stopped, state.gave_up, state.started_at, change
        ):
            return False
        self._act(project, name, restart_for_change, project, name, change, self._notify)
        return True

    # A lost session -----------------------------------------------------------------

    def _watch_session(self, project: Supervised, observation: Observation, now: float) -> None:
        """Notice the session vanishing (the tmux server died) and start a recovery.

        Seen a tick ago, gone now, not ended by `stop`/`kill` (see `recovery.session_lost`).
        While a recovery runs, a second loss waits for it to finish.
        """
        if observation.session_exists:
            self._seen = (project.config.name, observation)
            return
        if self._recovery is not None and not self._recovery.done():
            return
        seen, self._seen = self._seen, None
        if seen is None or seen[0] != project.config.name:
            return  # never seen, or the config renamed the session meanwhile
        previous = seen[1]
        if not session_lost(previous.tasks, observation.killed, project.ended_on_purpose()):
            return
        policies = {name: policy_of(task) for name, task in project.config.tasks.items()}
        graph = project.config.graph()
        plan = recovery_plan(previous.tasks, policies, observation.killed, now, graph)
        cause = _loss_cause(project, previous.server_pid)
        project.record(
            "session_lost",
            None,
            session=previous.session,
            cause=cause,
            tasks=sorted(previous.tasks),
            relaunch=list(plan.relaunch),
            left=plan.left,
        )
        relaunching = ", ".join(plan.relaunch) or "nothing"
        self._notify(f"tmux session '{previous.session}' lost ({cause}); relaunching {relaunching}")
        for name in previous.tasks:
            self.next_check.pop(name, None)
        recovering: Callable[..., object] = self._recover
        future = self.action_pool.submit(recovering, project, previous, plan)

        def report(done: Future[object]) -> None:
            error = done.exception() if not done.cancelled() else None
            if error is not None:
                project.record("supervisor_error", None, error=str(error))
                self._notify(f"recovery of session '{project.session}' failed: {error}")

        future.add_done_callback(report)
        future.add_done_callback(lambda _done: self.wake())
        self._recovery = future
        for name in previous.tasks:  # the tick leaves these tasks to the recovery
            self.actions[name] = future

    def _recover(self, project: Supervised, previous: Observation, plan: RecoveryPlan) -> None:
        self._notify(recover(project, previous, plan))

    def _wait_for_death(self, project: Supervised, name: str) -> None:
        """tmux marks a pane dead a moment after its process dies; wait for that moment."""

        def dead() -> bool:
            state = project.observe().tasks.get(name)
            return state is None or state.dead

        wait_until(dead, self.timing.death_wait, interval=self.timing.death_poll)

    def _notify(self, text: str) -> None:
        self.notice = text
        if self.notify is not None:
            self.notify(text)


def _loss_cause(project: Supervised, server_pid: int | None) -> str:
    """Whether the whole tmux server went, or just this session (for the event and log)."""
    if server_pid is not None and project.server_pid() != server_pid:
        return f"the tmux server (pid {server_pid}) died"
    return "the session was ended outside taskmux"


def _keep_proxy(configured: int) -> ProxyKeeper | None:
    """The URL proxy's keeper, None when the proxy is off: only then is its module (and
    asyncio, ~60 ms) imported."""
    if not proxy_port(configured):
        return None
    from taskmux.supervision.proxy.keeper import keep_proxy

    return keep_proxy(configured)
