"""Launching tasks: one wave's windows in one tmux round trip, each task's cwd, env, port
and log pipe prepared first, and the settle window that tells a start from a quick death."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from taskmux.config.signals import signal_name
from taskmux.errors import CwdMissing, PortBusy, StartFailed, TaskmuxError, TmuxError
from taskmux.lifecycle import daemonized, definition, logpipes
from taskmux.lifecycle.context import Context
from taskmux.lifecycle.results import Death, Launched, Progress
from taskmux.logs import spool as logspool
from taskmux.runtime import listeners, wakeup
from taskmux.runtime.pidwait import wait_exits
from taskmux.runtime.port_guard import Holder, Scope, Verdict, judge_all, may_free_all, refusal
from taskmux.runtime.shell import exec_form
from taskmux.runtime.state import TaskState
from taskmux.runtime.timing import wait_until
from taskmux.runtime.tmux_manager import Launch, Observation

LAST_LINES = 5  # lines of a quick death's output in its report


class Launcher:
    """Launches tasks of one project into its tmux session."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _prepare(self, name: str, hooks: bool, kill_port: bool) -> Launch:
        """Checks and side effects before a task's process starts: cwd, port, env, hook.
        `kill_port`: free the port from whatever holds it that we may signal."""
        task = self.ctx.project.task(name)
        cwd = self.ctx.project.task_cwd(name)
        if not cwd.is_dir():
            raise CwdMissing(f"task '{name}': working directory {cwd} does not exist")
        port = self._claim_port(name) if task.auto_port else self.ctx.port_of(name)
        env = self.ctx.task_env(name)  # before the hook: a config error runs nothing
        if hooks:
            self.ctx.hook("before_start", name, cwd)
        if port is not None:
            self._free_port(name, port, kill_port)
        command = exec_form(self.ctx.expand(task.command))
        logspool.prepare(self.ctx.paths, name)
        logspool.mark_run(self.ctx.paths, name)
        definition.record(self.ctx.project, name)  # what `ensure` compares with later
        built_from = self.ctx.ports_built_from(name)  # a port that moves later: stale
        return Launch(name, command, cwd, env, self.ctx.log_command(name), built_from)

    def _claim_port(self, name: str) -> int:
        """An automatic port, kept unless something other than this task now holds it."""
        marker = self.ctx.marker(name)

        def is_own(port: int) -> bool:
            holders = listeners.port_holders(port)
            return bool(holders) and all(h.marker == marker for h in holders)

        port, previous = self.ctx.ports.claim(name, is_own)
        if previous is not None:
            self.ctx.events.append("port_changed", name, port=port, previous=previous)
            self.ctx.report(Progress(name, "starting", f"port {previous} is taken: now {port}"))
        return port

    def _free_port(self, name: str, port: int, force: bool) -> None:
        """Free the task's port from this project's orphans (from anything we may signal
        with `force`), recording each kill; raise PortBusy naming what stays."""
        scopes: list[Scope] = []

        def decide(holders: list[Holder]) -> list[Verdict]:
            scopes.append(self._port_scope(name, holders))
            return judge_all(holders, scopes[-1], force)

        cleanup = listeners.free_port(port, decide, self.ctx.timing)
        if cleanup.killed:
            killed = cleanup.killed
            self.ctx.events.append(
                "port_freed",
                name,
                port=port,
                pids=[h.pid for h in killed],
                users=[h.user for h in killed],
                commands=[h.command for h in killed],
                forced=force,
            )
            pids = ", ".join(str(h.pid) for h in killed)
            self.ctx.report(Progress(name, "starting", f"freed port {port} (ended pid {pids})"))
        if cleanup.refused:
            forceable = not force and may_free_all(
                judge_all([v.holder for v in cleanup.refused], scopes[-1], force=True)
            )
            raise PortBusy(refusal(name, port, cleanup.refused, forceable))
        if cleanup.remaining:
            who = ", ".join(h.describe() for h in cleanup.remaining)
            raise PortBusy(f"task '{name}': port {port} is still held by {who} after ending it")

    def _port_scope(self, name: str, holders: list[Holder]) -> Scope:
        """Who we are, for the port decision; running tasks are looked up only if needed."""
        prefix = self.ctx.marker("")
        running: frozenset[str] = frozenset()
        if any(h.marker and h.marker.startswith(prefix) for h in holders):
            running = frozenset(n for n, s in self.ctx.observe().tasks.items() if s.is_alive)
        return Scope(
            uid=os.getuid(),
            root=os.path.realpath(self.ctx.project.root),
            marker_prefix=prefix,
            task=name,
            running_tasks=running,
            protected=listeners.own_lineage(),
        )

    def launch(
        self,
        names: list[str],
        manual: bool = True,
        hooks: bool = True,
        settle: float = 0.0,
        count_restart: bool = False,
        kill_port: bool = False,
        on_launched: Callable[[list[str]], None] | None = None,
        follows: Mapping[str, Collection[str]] | None = None,
    ) -> Launched:
        """Start those of `names` that may start, in one tmux round trip.

        Each task's lock is held from the liveness check through port cleanup and hook to
        the launch, so two processes starting one task, or an automatic restart racing a
        manual stop, cannot both act on it. With `settle`, the launched tasks are watched
        together for that many seconds and only the survivors are reported started (the
        supervisor's restarts pass none: its policy deals with deaths). `count_restart`
        counts the launch as an automatic restart on the task's window, in the same call.
        `kill_port` (`--kill-port`, this call only): a task's port is freed from whatever
        holds it that we may signal, not just from this project's orphans.
        `on_launched` hears the names of the tasks tmux now runs, before the settle window
        (a `started` dependency is met then); it is called once, also when none launched.
        `follows`: a task's dependencies among `names` (listed before it; tmux starts them
        first): a task is held back, not launched, when one of them failed before launch.
        """
        result = Launched()
        if not names:
            return result
        with self.ctx.task_locks(names):
            ctx = self.ctx  # a lost log pipe is attached again first (issue 23)
            observation = logpipes.reattach(ctx.project, ctx.tmux, ctx.observe(), ctx.events)
            eligible = [n for n in names if _may_launch(observation, n, manual)]
            result.refused = [n for n in names if n not in eligible]
            prepared: list[Launch] = []
            if eligible:
                max_bytes = int(self.ctx.config.log_max_size_mb * 1024 * 1024)
                logspool.configure(self.ctx.paths, max_bytes, self.ctx.config.log_backups)
            with ThreadPoolExecutor(max_workers=max(1, min(16, len(eligible)))) as pool:
                futures = {
                    name: pool.submit(self._prepare, name, hooks, kill_port) for name in eligible
                }
                for name, future in futures.items():
                    try:
                        prepared.append(future.result())
                    except TaskmuxError as exc:
                        result.failures[name] = exc
            prepared, result.held = _hold_back(prepared, set(result.failures), follows or {})
            pids = self._launch_in_tmux(prepared, observation, manual, count_restart)
            launched_at = time.monotonic()  # every task of the wave runs from here on
            for spec in prepared:
                self.ctx.paths.killed_mark(spec.task).unlink(missing_ok=True)
        fresh = {spec.task: spec for spec in prepared}
        if on_launched is not None:
            on_launched(list(fresh))
        if settle > 0 and fresh:
            self._settle(list(fresh), settle, result, launched_at, pids)
        else:
            result.started = list(fresh)
        self._record(result, fresh, manual, hooks, settle > 0)
        return result

    def _record(
        self, result: Launched, fresh: dict[str, Launch], manual: bool, hooks: bool, settled: bool
    ) -> None:
        """Events and progress for what a launch did; `after_start` hooks of what started."""
        failures = result.failures
        for name in result.started:
            self.ctx.events.append("started", name, manual=manual)
            self.ctx.report(Progress(name, "started"))
        for name in result.completed:
            self.ctx.events.append("started", name, manual=manual, completed=True)
            self.ctx.report(Progress(name, "completed", "exited 0"))
        if settled:
            self._find_daemonized(result)
        for name, death in result.died.items():
            self.ctx.events.append("start_failed", name, manual=manual, **death.to_dict())
            failures[name] = StartFailed(death.message(name))
        if hooks:
            for name in [*result.started, *result.completed]:
                try:
                    self.ctx.hook("after_start", name, fresh[name].cwd)
                except TaskmuxError as exc:
                    failures[name] = exc
        for name, error in failures.items():
            self.ctx.report(Progress(name, "failed", error.message))

    def _settle(
        self,
        names: list[str],
        window: float,
        result: Launched,
        launched_at: float,
        pids: dict[str, int],
    ) -> None:
        """Watch freshly launched tasks together for `window` seconds from the end of their
        launch (one window for the whole wave) and sort them into started, completed
        (exit 0) and died.

        Counted from when the launch returned, not from tmux's stamp before it: a wave of
        200 windows takes tmux a while to create, and the last task launched must live
        the whole window too."""
        for name in names:
            self.ctx.report(Progress(name, "starting"))
        ended: dict[str, TaskState | None] = {}

        def all_ended() -> bool:
            observation = self.ctx.observe()
            for name in names:
                state = observation.tasks.get(name)
                if name not in ended and (state is None or state.dead):
                    ended[name] = state
            return len(ended) == len(names)

        deadline = launched_at + window
        gone = wait_exits([pids[n] for n in names], deadline) if set(names) <= set(pids) else None
        if gone is not None:
            # The kernel told which pane processes ended: tmux is read once, and again
            # only while it has not yet seen an exit the kernel already reported.
            exited = {n for n in names if pids[n] in gone}
            wait_until(
                lambda: all_ended() or exited <= set(ended),
                self.ctx.timing.pending_wait,
                interval=self.ctx.timing.pending_pause,
            )
        else:  # no pidfds: look at tmux every `settle_poll`, the first look a poll in
            remaining = max(0.0, min(window, deadline - time.monotonic()))
            first = min(self.ctx.timing.settle_poll, remaining)
            time.sleep(first)
            wait_until(all_ended, remaining - first, interval=self.ctx.timing.settle_poll)
        result.started = [n for n in names if n not in ended]
        result.completed = [
            n
            for n, s in ended.items()
            if s is not None and self.ctx.project.task(n).is_success(s.exit_status, s.exit_signal)
        ]
        dead = {n: s for n, s in ended.items() if n not in result.completed}
        output = self.last_output({n: s.started_at if s else None for n, s in dead.items()})
        for name, state in dead.items():
            result.died[name] = _death(state, output.get(name, ()), window)

    def _find_daemonized(self, result: Launched) -> None:
        """A task with a port that exited 0 at once may have forked a server into the
        background (`--daemonize yes`): say so, since taskmux cannot supervise that."""
        candidates = [n for n in result.completed if self.ctx.project.task(n).port is not None]
        if not candidates:
            return
        observation = self.ctx.observe()
        for name in candidates:
            state = observation.tasks.get(name)
            holders = self._daemonized(name, state) if state else []
            if holders:
                pids = ", ".join(str(h.pid) for h in holders)
                message = (
                    f"task '{name}' exited 0 and left pid {pids} holding its port: it daemonized "
                    f"itself, so taskmux cannot supervise it ({daemonized.advice(holders)})"
                )
                result.daemonized[name] = message
                self.ctx.report(Progress(name, "daemonized", message))

    def _daemonized(self, name: str, state: TaskState) -> list[Holder]:
        return daemonized.note(
            self.ctx.project, name, state, self.ctx.timing.daemon_settle, self.ctx.timing
        )

    def last_output(self, since: dict[str, float | None]) -> dict[str, tuple[str, ...]]:
        """Each task's last lines of output since its start, once its log has them.

        The log collector is a process of its own that may still be starting when a task
        dies at once: a task's tail is final once its log holds all its run printed (its
        waiting shell's last question is in the spool and read: `spool.run_logged`, so a
        silent task answers at once); else, up to `log_wait`, once it stops changing.
        """
        if not since:
            return {}
        found: dict[str, tuple[str, ...]] = {}
        pending = set(since)
        root = self.ctx.paths.root

        def settled() -> bool:
            for name in list(pending):
                # Known before the read below; each look waits no longer than a poll,
                # so `log_wait` stays the bound of the whole wait.
                logged = logspool.run_logged(root, name, self.ctx.timing.log_poll)
                lines = self._tail_since(name, since[name])
                if logged or (lines and lines == found.get(name)):
                    pending.discard(name)
                found[name] = lines
            return not pending

        pauses = self.ctx.timing
        wait_until(settled, pauses.log_wait, interval=pauses.log_poll)
        return found

    def _tail_since(self, name: str, since: float | None) -> tuple[str, ...]:
        from taskmux.lifecycle.redaction import redacted_tail  # only for a task that died

        texts = [
            line.text.strip()[:300]
            for line in redacted_tail(self.ctx.project, name, LAST_LINES * 4)
            if since is None or line.ts >= since - 0.001
        ]
        return tuple([t for t in texts if t][-LAST_LINES:])

    def _launch_in_tmux(
        self, specs: list[Launch], observation: Observation, manual: bool, count: bool = False
    ) -> dict[str, int]:
        """Launch in tmux; each task's pane pid, as tmux printed it."""
        owner = self.ctx.paths.root.name
        try:
            pids = self.ctx.tmux.launch(
                observation.session, specs, observation, manual, owner, count
            )
        except TmuxError as exc:
            if "duplicate session" not in exc.message:
                raise
            # A session of this name appeared a moment ago. Add windows to it only if it
            # is ours (another taskmux process of this project, which tags it in the same
            # command list that creates it); if it is another checkout's, `observe` now
            # picks this checkout's own name; anyone else's it refuses (E305).
            again = self.ctx.observe()
            specs = [replace(s, env=s.env | self.ctx.own_variables(s.task)) for s in specs]
            pids = self.ctx.tmux.launch(again.session, specs, again, manual, owner)
        if specs:
            self.ctx.paths.stop_all_mark.unlink(missing_ok=True)  # the session is meant to run
            logspool.ensure_collector(self.ctx.paths.root)  # after the spools were touched
            wakeup.poke(self.ctx.paths.root)  # a supervisor starts watching the new processes
        return pids


def _hold_back(
    prepared: list[Launch], failed: set[str], follows: Mapping[str, Collection[str]]
) -> tuple[list[Launch], list[str]]:
    """(what to launch, what to hold back): a task that follows one that failed, or was
    held back itself, does not start without it (its dependent's start decides why)."""
    gone, kept, held = set(failed), [], []
    for spec in prepared:
        if gone.intersection(follows.get(spec.task, ())):
            gone.add(spec.task)
            held.append(spec.task)
        else:
            kept.append(spec)
    return kept, held


def _may_launch(observation: Observation, task: str, manual: bool) -> bool:
    """Never launch over a live process; an automatic restart also yields to a manual stop."""
    state = observation.tasks.get(task)
    if state is None:
        return manual or task not in observation.killed
    if state.is_alive:
        return False
    return manual or not (state.manually_stopped or state.gave_up)


def _death(state: TaskState | None, logs: tuple[str, ...], window: float) -> Death:
    if state is None:
        return Death("was killed (its window closed)", None, None, logs, window)
    code = state.exit_status if state.exit_signal is None else None
    sig = signal_name(state.exit_signal) if state.exit_signal is not None else None
    return Death(state.exit_text(), code, sig, logs, window)
