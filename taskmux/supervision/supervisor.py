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
from typing import TYPE_CHECKING

from taskmux.config.schema import TaskConfig
from taskmux.errors import TaskmuxError
from taskmux.lifecycle.core import Checked, Lifecycle
from taskmux.lifecycle.restart import Action, Decision, decide, history_of, observed_of, policy_of
from taskmux.logs import spool as logspool
from taskmux.runtime.hooks import run_hook
from taskmux.runtime.state import TaskState, health_change, same_run
from taskmux.runtime.tmux_manager import Observation, Tmux
from taskmux.runtime.wakeup import Listener
from taskmux.statedir.claim import Claim as Claim
from taskmux.statedir.claim import claim_supervision as claim_supervision
from taskmux.statedir.claim import describe_holder as describe_holder
from taskmux.statedir.claim import read_holder as read_holder
from taskmux.statedir.claim import supervisor_running as supervisor_running
from taskmux.supervision.exitwatch import ExitWatch
from taskmux.supervision.filewatch import Change, FileWatcher, WatchSpec, should_restart
from taskmux.supervision.recovery import RecoveryPlan, recovery_plan, relaunch_waves, session_lost

if TYPE_CHECKING:
    from taskmux.service import Service

POLL_INTERVAL = 0.5  # without pidfds: how often tmux is read
SWEEP_INTERVAL = 15.0  # with them: a look at tmux when nothing has woken the loop
STOP_CHECK = 1.0  # how soon a stop event ends `run` unless `wake` is called (no tmux call)
# How long a recovery waits for a relaunched dependency that must complete (a migration).
RECOVERY_DEPENDENCY_WAIT = 300.0
DAEMON_WAIT = 2.0  # how long a task that exited 0 is watched for a child binding its port


class Supervisor:
    """Applies restart policies to every task of one project until told to stop."""

    def __init__(
        self,
        service: Service,
        clock: Callable[[], float] = time.time,
        notify: Callable[[str], None] | None = None,
        seen: Observation | None = None,
    ) -> None:
        """`seen`: the session as the process last saw it before supervising (`start -m`'s
        own start), so a tmux server that dies before the first tick is still a loss."""
        self.service = service  # its config in use is read afresh on every tick
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
            (service.lifecycle().config.name, seen) if seen is not None else None
        )
        self._recovery: Future[object] | None = None
        self._lock = threading.Lock()
        self.files: FileWatcher | None = None  # created once some task has `watch`
        self._watching = False  # while `run` runs
        self._watched: tuple[tuple[str, ...], tuple[tuple[str, bool], ...]] = ((), ())
        self._watched_for: Lifecycle | None = None  # the config whose `watch` is in force
        self._exits: ExitWatch | None = None  # while `run` runs
        self._dues: list[float] = []  # clock times at which this tick wants another
        self._collector: int | None = None  # the log collector's pid, while tasks run
        service.config.on_replace(self.wake)  # a reload may change what is watched

    @property
    def lifecycle(self) -> Lifecycle:
        """The lifecycle of the config in use: a reload that replaced it applies at once."""
        return self.service.lifecycle()

    def watch_files(self, lifecycle: Lifecycle) -> None:
        """Watch the files of `lifecycle`'s tasks that have `watch` patterns (only those,
        replacing what was watched); no observer at all while no task has any."""
        specs = watch_specs(lifecycle)
        with self._lock:
            if not self._watching:
                return  # `run` watches the lifecycle it starts with
            if self.files is None:
                if not specs:
                    return
                self.files = FileWatcher()
                self.files.on_notice = self.wake
            files = self.files
        files.update(specs, [os.path.realpath(lifecycle.paths.root)])
        watched = (tuple(sorted(specs)), files.folders)
        if watched != self._watched:
            self._watched = watched
            folders = [folder + ("/**" if deep else "") for folder, deep in watched[1]]
            lifecycle.events.append("watching", None, tasks=list(watched[0]), folders=folders)

    def run(self, stop: threading.Event) -> None:
        last_error = ""
        exits = ExitWatch(Listener.bind(self.lifecycle.paths.root))
        with self._lock:
            self._watching = True
            self._exits = exits
        try:
            woken = True
            next_tick = 0.0
            while not stop.is_set():
                if woken or time.monotonic() >= next_tick:
                    try:
                        self.tick()
                        exits.follow(self._watched_pids())
                        last_error = ""
                        next_tick = time.monotonic() + self._pause(self._notified(exits))
                    except Exception as exc:  # noqa: BLE001 - one bad tick (tmux restarting, a
                        # config mid-reload) must not end supervision; it is recorded, once,
                        # and the next tick comes as soon as a poll's would.
                        if str(exc) != last_error:
                            last_error = str(exc)
                            self.lifecycle.events.append("supervisor_error", None, error=last_error)
                        next_tick = time.monotonic() + POLL_INTERVAL
                woken = bool(exits.wait(min(STOP_CHECK, next_tick - time.monotonic())))
        finally:
            with self._lock:
                self._watching = False
                self._exits = None
                files, self.files = self.files, None
            if files is not None:
                files.stop()
            exits.close()
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.action_pool.shutdown(wait=False, cancel_futures=True)

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

    def _keep_collecting(self, lifecycle: Lifecycle, observation: Observation) -> None:
        """While any task runs, a log collector must (nothing is lost while none does: the
        output waits in the spools, but it is stamped late). A missing one is started; one
        this loop watched that died is an event; a failure here is recorded and does not
        hold up the rest of the tick."""
        root = lifecycle.paths.root
        seen, self._collector = self._collector, None
        if not any(s.is_alive for s in observation.tasks.values()):
            return
        try:
            pid = logspool.collector_pid(root)
            if pid is None:  # one a launcher just started may not hold its lock yet: a
                # second then finds the lock taken and exits; only a crash is an event
                logspool.ensure_collector(root)
                if seen is not None and not _alive(seen):
                    lifecycle.events.append("collector_restarted", None, previous_pid=seen)
            self._collector = pid if pid is not None and pid > 0 else None
        except (OSError, TaskmuxError) as exc:
            lifecycle.events.append("supervisor_error", None, error=f"log collector: {exc}")

    def _pause(self, notified: bool) -> float:
        """Until the next tick nothing else wakes: the sweep (or poll), or sooner when a
        health check, a scheduled restart or a file change falls due."""
        pause = SWEEP_INTERVAL if notified else POLL_INTERVAL
        files = self.files
        due = files.next_due(self._busy()) if files is not None else None
        dues = [*self._dues, due] if due is not None else self._dues
        if dues:
            pause = min(pause, max(0.0, min(dues) - self.clock()))
        return pause

    def _busy(self) -> set[str]:
        return {name for name, action in self.actions.items() if not action.done()}

    def tick(self) -> None:
        lifecycle = self.lifecycle
        if lifecycle is not self._watched_for:  # first tick, or a reload replaced the config
            self._watched_for = lifecycle
            self.watch_files(lifecycle)
        now = self.clock()
        self._dues = []
        # Before reading tmux: an action that ends after that read left it stale for its task.
        busy = self._busy()
        observation = lifecycle.observe()
        self.snapshot = observation
        self._keep_collecting(lifecycle, observation)
        self._watch_session(lifecycle, observation, now)
        changes = self._due_changes(lifecycle, busy)
        for name, state in observation.tasks.items():
            task = lifecycle.config.tasks.get(name)
            if task is None:
                continue  # no longer in the config: left alone
            if name in busy:
                continue
            change = changes.get(name)
            if change is not None and self._restart_on_change(lifecycle, name, state, change):
                continue
            if self._note_exit(lifecycle, name, state):
                continue  # a check of what it left runs first; its end wakes the loop
            self._run_health(lifecycle, name, task, state, now)
            decision = decide(policy_of(task), observed_of(state), history_of(state), now)
            self._apply(lifecycle, name, state, decision, now)

    def _note_exit(self, lifecycle: Lifecycle, name: str, state: TaskState) -> bool:
        """Record a death once (the `exited` event); whether that started a check for a
        server it forked away, which must end before a restart could take the port."""
        if not state.dead or state.seen_exit == state.death_id:
            return False
        checking = False
        if not state.manually_stopped:  # the event first: it is what callers wait for
            lifecycle.events.append(
                "exited",
                name,
                exit_code=state.exit_status,
                signal=state.exit_signal,
                description=state.exit_text(),
            )
            if state.exit_status == 0 and state.exit_signal is None:  # forked away?
                self._act(lifecycle, name, lifecycle.note_daemonized, name, state, DAEMON_WAIT)
                checking = True
        lifecycle.tmux.note_exit_seen(state.window_id, state.death_id)
        return checking

    def _run_health(
        self, lifecycle: Lifecycle, name: str, task: TaskConfig, state: TaskState, now: float
    ) -> None:
        if not task.needs_check or state.dead or state.manually_stopped:
            self.next_check.pop(name, None)
            return
        future = self.checks.get(name)
        if future is not None:
            if not future.done():
                return
            del self.checks[name]
            checked = future.result()
            self._report_health(lifecycle, name, checked)
            if checked.after is not None and same_run(checked.after.run, state.started_at):
                # This tick's observation may predate that verdict; the next check counts on.
                state = replace(state, health=checked.after)
        due = self.next_check.setdefault(name, (state.started_at or now) + task.health_interval)
        if now >= due:
            self.next_check[name] = now + task.health_interval
            self.checks[name] = check = self.pool.submit(lifecycle.checked, name, state, True)
            check.add_done_callback(lambda _done: self.wake())
        else:
            self._dues.append(due)

    def _report_health(self, lifecycle: Lifecycle, name: str, checked: Checked) -> None:
        """An event when the failure streak reaches `health_retries`, and when it ends after
        that; single failures of a task still coming up are only counted on its window."""
        if checked.after is None:
            return
        change = health_change(checked.before, checked.after)
        if change == "health_failed":
            output = checked.result.output[-500:]
            lifecycle.events.append(
                change,
                name,
                failures=checked.after.failures,
                reason=checked.result.reason,
                output=output,
            )
        elif change == "health_recovered":
            lifecycle.events.append(change, name)

    def _apply(
        self, lifecycle: Lifecycle, name: str, state: TaskState, decision: Decision, now: float
    ) -> None:
        if decision.action is Action.RESET:
            lifecycle.tmux.set_restarts(state.window_id, None)
            lifecycle.events.append("restart_count_reset", name, reason=decision.reason)
        elif decision.action is Action.GIVE_UP:
            lifecycle.tmux.give_up(state.window_id)
            lifecycle.events.append(
                "gave_up", name, reason=decision.reason, restarts=state.restarts
            )
            if state.is_alive:  # still running but unhealthy: "gave up" leaves it stopped
                self._act(lifecycle, name, lifecycle.end_processes, name, state.pid)
        elif decision.action is Action.RESTART:
            due = state.next_restart_at
            if due is None:
                due = now + decision.delay
                if decision.delay > 0:  # on the window: a supervisor after a crash keeps it
                    lifecycle.tmux.schedule_restart(state.window_id, due)
                lifecycle.events.append(
                    "restart_scheduled",
                    name,
                    delay=round(decision.delay, 3),
                    reason=decision.reason,
                )
            if now >= due:  # at once: this tick's sight of the task is still current
                fresh = state if state.next_restart_at is None else None
                self._act(lifecycle, name, self._restart, lifecycle, name, decision.reason, fresh)
            else:
                self._dues.append(due)
        elif state.is_alive and state.next_restart_at is not None:
            # A restart was due for failing checks, but the task recovered: forget it.
            lifecycle.tmux.cancel_restart(state.window_id)

    def _act(
        self, lifecycle: Lifecycle, name: str, action: Callable[..., object], *args: object
    ) -> None:
        """Run an action in the background; a failure becomes an event, never silence."""
        future = self.action_pool.submit(action, *args)

        def report(done: Future[object]) -> None:
            error = done.exception() if not done.cancelled() else None
            if error is not None:
                lifecycle.events.append("supervisor_error", name, error=str(error))

        future.add_done_callback(report)
        future.add_done_callback(lambda _done: self.wake())
        self.actions[name] = future

    def _restart(
        self, lifecycle: Lifecycle, name: str, reason: str, seen: TaskState | None = None
    ) -> None:
        """Restart one task; `seen` is its state as the tick saw it a moment ago (a restart
        without delay), else it is read again (the delay may have changed things)."""
        state = seen if seen is not None else lifecycle.observe().tasks.get(name)
        if state is None or state.manually_stopped or state.gave_up:
            return
        if state.is_alive:  # unhealthy: stop it the usual way, without a manual mark
            lifecycle.end_processes(name, state.pid)
            _wait_for_death(lifecycle, name)
        # The launch reads tmux again under the task's lock: a stop by hand meanwhile wins.
        launched = lifecycle.launch([name], manual=False, count_restart=True)
        if name in launched.refused:
            return  # stopped by hand meanwhile, or running again: nothing was restarted
        if name in launched.failures:  # nothing launched, so not counted by the launch
            lifecycle.tmux.count_restart(state.window_id)
        attempt = state.restarts + 1
        if name in launched.failures:
            error = launched.failures[name].message
            lifecycle.events.append("restart_failed", name, attempt=attempt, error=error)
        else:
            lifecycle.events.append("restarted", name, attempt=attempt, reason=reason)

    # Restarts on file changes ---------------------------------------------------------

    def _due_changes(self, lifecycle: Lifecycle, busy: set[str]) -> dict[str, Change]:
        """The file changes whose quiet period is over, for tasks with no action under way
        (a busy task's changes keep collecting: one restart in flight per task)."""
        files = self.files
        if files is None:
            return {}
        for error in files.take_errors():
            lifecycle.events.append("watch_error", None, error=error)
            self._notify(f"file watching: {error}")
        return {change.task: change for change in files.due(busy=busy)}

    def _restart_on_change(
        self, lifecycle: Lifecycle, name: str, state: TaskState, change: Change
    ) -> bool:
        """Start a restart for a due change if the task runs (or gave up) and nobody
        stopped it (see `should_restart`); whether one was started."""
        if not should_restart(
            state.is_alive, state.manually_stopped, state.gave_up, state.started_at, change
        ):
            return False
        self._act(lifecycle, name, self._restart_for_change, lifecycle, name, change)
        return True

    def _restart_for_change(self, lifecycle: Lifecycle, name: str, change: Change) -> None:
        """Run the task's `watch_cmd` (if any; a failure leaves the task running as it is),
        then restart it the way `taskmux restart` does: hooks, port cleanup, settle window.

        Like a restart by hand, it is not counted toward `max_restarts` and clears the
        count: the files changed, so earlier crashes say little about the new code.
        """
        task = lifecycle.config.tasks.get(name)
        if task is None:
            return
        lifecycle = lifecycle.tagged(trigger="watch")  # its stop, start, … events say so
        reason = change.reason()
        details: dict[str, object] = {"files": list(change.files), "changed": change.count}
        if task.watch_cmd:
            error = _build(lifecycle, name, task.watch_cmd, task.hook_timeout)
            if error is not None:
                lifecycle.events.append(
                    "watch_cmd_failed", name, reason=reason, error=error, **details
                )
                self._notify(f"{name} left as it was: {error}")
                return
            state = lifecycle.observe().tasks.get(name)  # the build took a while
            if state is None or not should_restart(
                state.is_alive, state.manually_stopped, state.gave_up, state.started_at, change
            ):
                return
        try:
            report = lifecycle.restart([name])
        except TaskmuxError as exc:  # e.g. a failing before_stop hook
            report = None
            error = exc.message
        if report is not None and (name in report.started or name in report.completed):
            lifecycle.events.append("restarted", name, reason=reason, **details)
            self._notify(f"{name} restarted: {reason}")
            return
        if report is not None:
            error = report.failed.get(name) or report.skipped.get(name) or "it did not start"
        lifecycle.events.append("restart_failed", name, reason=reason, error=error, **details)
        self._notify(f"{name}: restart after a change failed: {error}")

    # A lost session -----------------------------------------------------------------

    def _watch_session(self, lifecycle: Lifecycle, observation: Observation, now: float) -> None:
        """Notice the session vanishing (the tmux server died) and start a recovery.

        Seen a tick ago, gone now, not ended by `stop`/`kill` (see `recovery.session_lost`).
        While a recovery runs, a second loss waits for it to finish.
        """
        if observation.session_exists:
            self._seen = (lifecycle.config.name, observation)
            return
        if self._recovery is not None and not self._recovery.done():
            return
        seen, self._seen = self._seen, None
        if seen is None or seen[0] != lifecycle.config.name:
            return  # never seen, or the config renamed the session meanwhile
        previous = seen[1]
        if not session_lost(previous.tasks, observation.killed, lifecycle.ended_on_purpose()):
            return
        policies = {name: policy_of(task) for name, task in lifecycle.config.tasks.items()}
        graph = lifecycle.config.graph()
        plan = recovery_plan(previous.tasks, policies, observation.killed, now, graph)
        cause = _loss_cause(lifecycle.tmux, previous.server_pid)
        lifecycle.events.append(
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
        recover: Callable[..., object] = self._recover
        future = self.action_pool.submit(recover, lifecycle, previous, plan)

        def report(done: Future[object]) -> None:
            error = done.exception() if not done.cancelled() else None
            if error is not None:
                lifecycle.events.append("supervisor_error", None, error=str(error))
                self._notify(f"recovery of session '{lifecycle.session}' failed: {error}")

        future.add_done_callback(report)
        future.add_done_callback(lambda _done: self.wake())
        self._recovery = future
        for name in previous.tasks:  # the tick leaves these tasks to the recovery
            self.actions[name] = future

    def _recover(self, lifecycle: Lifecycle, previous: Observation, plan: RecoveryPlan) -> None:
        """Stop what the lost tasks left running, then relaunch the plan's tasks in order."""
        failed: dict[str, str] = {}
        try:  # one process scan for every lost task, their escalations side by side
            ended = lifecycle.end_all_processes(dict.fromkeys(previous.tasks))
        except Exception as exc:  # noqa: BLE001 - the relaunch goes on; each task says why
            ended = {}
            failed = {n: f"could not stop what it left running: {exc}" for n in previous.tasks}
        leftovers = {name: used for name, used in ended.items() if used}
        relaunched = self._relaunch(lifecycle, previous, plan, failed)
        lifecycle.events.append(
            "session_recovered",
            None,
            session=lifecycle.session,
            leftovers_stopped=leftovers,
            relaunched=relaunched,
            failed=failed,
        )
        text = f"session '{lifecycle.session}' recreated; relaunched {', '.join(relaunched) or 'nothing'}"
        if leftovers:
            text += f"; stopped what {', '.join(leftovers)} left running"
        if failed:
            text += "; not relaunched: " + "; ".join(f"{n} ({why})" for n, why in failed.items())
        self._notify(text)

    def _relaunch(
        self,
        lifecycle: Lifecycle,
        previous: Observation,
        plan: RecoveryPlan,
        failed: dict[str, str],
    ) -> list[str]:
        """Launch wave by wave; a wave's dependents wait for it to be healthy, as `start` does."""
        graph = lifecycle.config.graph()
        relaunched: list[str] = []
        for wave in relaunch_waves(graph, [n for n in plan.relaunch if n not in failed]):
            ready = []
            for name in wave:
                bad = [d for d in graph.get(name, ()) if d in failed]
                if bad:
                    failed[name] = f"dependency '{bad[0]}' did not come back"
                else:
                    ready.append(name)
            launched = lifecycle.launch(ready, manual=False)
            for name, error in launched.failures.items():
                failed[name] = error.message
            relaunched += launched.started
            self._carry_restart_counts(lifecycle, previous, launched.started)
            needed = {
                (d.task, d.condition)
                for n in plan.relaunch
                if n in lifecycle.config.tasks
                for d in lifecycle.config.tasks[n].depends_on
                if d.task in ready
            }
            for dep, condition in sorted(needed):
                if dep in failed:
                    continue
                deadline = time.monotonic() + RECOVERY_DEPENDENCY_WAIT
                problem = lifecycle.wait_condition(dep, condition, deadline=deadline)
                if problem is not None:
                    failed[dep] = problem
        return relaunched

    def _carry_restart_counts(
        self, lifecycle: Lifecycle, previous: Observation, names: list[str]
    ) -> None:
        """A relaunch counts as an automatic restart, so a server that keeps dying ends in
        "gave up" rather than a loop."""
        if not names:
            return
        now = lifecycle.observe()
        for name in names:
            state = now.tasks.get(name)
            if state is not None:
                count = previous.tasks[name].restarts + 1
                lifecycle.tmux.set_restarts(state.window_id, count)

    def _notify(self, text: str) -> None:
        self.notice = text
        if self.notify is not None:
            self.notify(text)


def watch_specs(lifecycle: Lifecycle) -> dict[str, WatchSpec]:
    """What each task with `watch` patterns watches, from its config and cwd."""
    project = lifecycle.project
    return {
        name: WatchSpec(
            os.path.realpath(project.task_cwd(name)),
            tuple(task.watch),
            tuple(task.watch_ignore),
            task.watch_cmd,
        )
        for name, task in lifecycle.config.tasks.items()
        if task.watch
    }


def _build(lifecycle: Lifecycle, name: str, command: str, timeout: float | None) -> str | None:
    """Run a task's `watch_cmd` as its hooks run (cwd, environment, `hook_timeout`);
    None when it succeeded, else why not (exit code and last output)."""
    try:
        run_hook(
            "watch_cmd",
            command,
            lifecycle.project.task_cwd(name),
            lifecycle.hook_env(name),
            f"task '{name}'",
            timeout=timeout or lifecycle.config.hook_timeout,
        )
    except TaskmuxError as exc:
        return exc.message
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _loss_cause(tmux: Tmux, server_pid: int | None) -> str:
    """Whether the whole tmux server went, or just this session (for the event and log)."""
    if server_pid is not None and tmux.server_pid() != server_pid:
        return f"the tmux server (pid {server_pid}) died"
    return "the session was ended outside taskmux"


def _wait_for_death(lifecycle: Lifecycle, name: str, timeout: float = 3.0) -> None:
    """tmux marks a pane dead a moment after its process dies; wait for that moment."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = lifecycle.observe().tasks.get(name)
        if state is None or state.dead:
            return
        time.sleep(0.02)
