"""Stopping: the SIGINT → SIGTERM → SIGKILL escalation of a task's processes, stop
waves in reverse dependency order, stop hooks, kill, and ending the session."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from taskmux.config.schema import TaskConfig
from taskmux.config.signals import parse_signal
from taskmux.errors import StopFailed, TaskmuxError
from taskmux.lifecycle import daemonized
from taskmux.lifecycle.context import Context
from taskmux.lifecycle.results import Progress, StopReport
from taskmux.runtime import listeners, procs
from taskmux.runtime.port_guard import Holder
from taskmux.runtime.state import TaskState
from taskmux.runtime.tmux_manager import Observation


class Stopper:
    """Stops and kills the tasks of one project."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def mark_all_stopped(self, states: dict[str, TaskState]) -> None:
        """Mark tasks stopped by hand, under their locks (an automatic restart either happened
        before or sees the mark), in one tmux round trip."""
        if not states:
            return
        with self.ctx.task_locks(list(states)):
            self.ctx.tmux.mark_all_stopped([s.window_id for s in states.values()])

    def stop_target(
        self,
        name: str,
        pid: int | None = None,
        server: int | None = None,
        others: tuple[int, ...] = (),
    ) -> procs.StopTarget:
        """What `end_processes` needs to stop a task: its pane process, marker, escalation.
        `server`: the tmux server's pid, which `pid` (from an observation) must prove to be
        a pane of before it is signalled; `others`: its daemonized servers' pids."""
        task = self.ctx.config.tasks.get(name)
        grace = task.stop_grace_period if task is not None else 5.0
        first = stop_signal_of(task)
        return procs.StopTarget(pid, self.ctx.marker(name), grace, first, server, others)

    def end_processes(self, name: str, pid: int | None = None) -> str | None:
        """The one way taskmux stops a task's processes (a manual stop, an automatic
        restart, a give-up, the leftovers of a lost session): its pane process `pid`, its
        group, its descendants and whatever carries its marker, through the SIGINT →
        SIGTERM → SIGKILL escalation. Returns the signal that ended them (None: none ran);
        raises StopFailed (E306) naming what outlived SIGKILL, so nothing is launched
        beside it."""
        ended = self._end({name: pid})[name]
        if ended.survivors:
            raise StopFailed(
                f"task '{name}': could not stop {procs.describe(ended.survivors)} "
                "(SIGKILL failed); not started again while it runs"
            )
        return ended.signal

    def end_all_processes(self, pids: dict[str, int | None]) -> dict[str, str | None]:
        """`end_processes` for many tasks at once: one process scan shared by all, every
        escalation running side by side (N tasks that take G s each end in about G s)."""
        return {n: e.signal for n, e in self._end(pids).items()}

    def _end(self, pids: dict[str, int | None]) -> dict[str, procs.Ended]:
        names = list(pids)
        # A pid read from tmux a moment ago may name a stranger by now: prove it first.
        server = self.ctx.tmux.server_pid() if any(pids.values()) else None
        targets = [self.stop_target(n, pids[n], server) for n in names]
        ended = procs.stop_trees(targets, timing=self.ctx.timing)
        return dict(zip(names, ended, strict=True))

    def _stop_wave(
        self, wave: list[str], observation: Observation, hooks: bool, reap: bool = True
    ) -> tuple[dict[str, str | None], dict[str, TaskmuxError]]:
        """Stop one wave of tasks together: hooks per task, one mark for all, one process
        scan, every escalation side by side. Returns (task -> the signal that ended it,
        or None when nothing of it ran; task -> why its stop failed). `reap`: nudge tmux
        to reap the panes at once (not needed when their windows are closed next)."""
        states = {n: observation.tasks[n] for n in wave}
        failures: dict[str, TaskmuxError] = {}
        live = [n for n in wave if not states[n].dead]
        if hooks:
            failures |= self._task_hooks("before_stop", live)
            live = [n for n in live if n not in failures]
        for name in live:
            self.ctx.report(Progress(name, "stopping"))
        # A dead task is marked too: the mark blocks a pending restart; what it left
        # running (a server that daemonized, an orphan) still goes.
        self.mark_all_stopped({n: states[n] for n in wave if n not in failures})
        dead = [n for n in wave if states[n].dead]
        daemons = {n: self.note_daemonized(n, states[n]) for n in dead}
        others = {n: _pids(daemons[n]) for n in dead}
        table = procs.ProcessTable.scan()
        leftovers = {n: table.members(None, self.ctx.marker(n), others=others[n]) for n in dead}
        leftovers = {n: found for n, found in leftovers.items() if found}
        for name, found in leftovers.items():
            self._announce_leftovers(name, found)
        order = [*live, *leftovers]
        server = observation.server_pid
        targets = [
            self.stop_target(
                n,
                states[n].pid if n in live and states[n].is_alive else None,
                server,
                others.get(n, ()),
            )
            for n in order
        ]
        ended = dict(zip(order, procs.stop_trees(targets, table, self.ctx.timing), strict=True))
        if live and reap:
            self.ctx.tmux.run(["run-shell", "-b", "true"])  # let tmux reap at once (3.3a)
        used: dict[str, str | None] = {n: None for n in dead}
        for name in live:
            survivors = ended[name].survivors
            if survivors:  # not ours to call stopped: say what is still there
                failures[name] = StopFailed(
                    f"task '{name}': could not stop {procs.describe(survivors)} (SIGKILL failed)"
                )
                continue
            used[name] = ended[name].signal
            self._record("stopped", name, manual=True, signal=used[name])
            self.ctx.report(Progress(name, "stopped", used[name] or "not running"))
        for name, found in leftovers.items():
            try:
                used[name] = self._leftovers_ended(name, found, ended[name], daemons[name])
            except TaskmuxError as exc:
                failures[name] = exc
        if hooks:
            failures |= self._task_hooks("after_stop", [n for n in live if n not in failures])
        return {n: u for n, u in used.items() if n not in failures}, failures

    def _task_hooks(self, stage: str, names: list[str]) -> dict[str, TaskmuxError]:
        """Run a stop hook of each task that has one, side by side; the ones that failed."""
        having = [
            n
            for n in names
            if n in self.ctx.config.tasks and getattr(self.ctx.config.tasks[n].hooks, stage)
        ]
        if not having:
            return {}
        failures: dict[str, TaskmuxError] = {}
        with ThreadPoolExecutor(max_workers=min(32, len(having))) as pool:
            futures = {
                n: pool.submit(self.ctx.hook, stage, n, self.ctx.project.task_cwd(n), False)
                for n in having
            }
            for name, future in futures.items():
                try:
                    future.result()
                except TaskmuxError as exc:
                    failures[name] = exc
        return failures

    def _announce_leftovers(self, name: str, found: list[procs.Proc]) -> None:
        """Say what a dead task left running, before it is stopped."""
        what = procs.describe(found)
        self.ctx.report(Progress(name, "stopping", f"{what}, left running after the task exited"))

    def _leftovers_ended(
        self, name: str, found: list[procs.Proc], ended: procs.Ended, daemons: list[Holder]
    ) -> str | None:
        """Record the end of what a dead task left running; raise StopFailed naming what
        survived even SIGKILL."""
        if ended.survivors:
            raise StopFailed(
                f"task '{name}': could not stop {procs.describe(ended.survivors)} (SIGKILL failed)"
            )
        self._record(
            "stopped",
            name,
            manual=True,
            signal=ended.signal,
            leftovers=[p.pid for p in found],
            daemonized=bool(daemons),
        )
        detail = (
            f"{ended.signal}: ended {procs.describe(found)}, left running after the task exited"
        )
        if daemons:
            detail += f" (it daemonized: {daemonized.advice(daemons)})"
        task = self.ctx.config.tasks.get(name)
        port = self.ctx.ports.port_of(name, assign=False) if task is not None else None
        if port is not None and listeners.port_is_held(port):
            who = ", ".join(h.describe() for h in listeners.port_holders(port))
            detail += f"; port {port} is still held by {who}, not this task's: left alone"
        self.ctx.report(Progress(name, "stopped", detail))
        return ended.signal

    def note_daemonized(self, name: str, state: TaskState, wait: float = 0.0) -> list[Holder]:
        """The task's processes on its port if it daemonized (recorded once as an event).

        `wait`: how long to give the background child to bind after its parent exited.
        """
        return daemonized.note(self.ctx.project, name, state, wait, self.ctx.timing)

    def stop(self, names: list[str] | None = None, hooks: bool = True) -> StopReport:
        """Stop tasks (all, then end the session, when no names are given)."""
        report = StopReport()
        if names is not None:
            self.ctx.project.check_names(names)
        observation = self.ctx.observe()
        if not observation.session_exists:
            if names is None:
                return report
            report.not_running = list(names)
            return report
        targets = list(names) if names is not None else list(observation.tasks)
        if hooks:
            self.ctx.hook("before_stop", None, strict=False)
        graph = self.ctx.config.graph()
        waves = stop_waves(graph, [t for t in targets if t in observation.tasks])
        report.not_running = [
            t for t in targets if t not in observation.tasks or observation.tasks[t].dead
        ]
        ending = names is None  # the windows close next: no reap nudge needed
        for wave in waves:
            used, failures = self._stop_wave(wave, observation, hooks, reap=not ending)
            for name, error in failures.items():
                report.failed[name] = error.message
            for name, signal_used in used.items():
                if signal_used is not None and name in report.not_running:
                    report.not_running.remove(name)  # it had left processes running
                if name not in report.not_running:
                    report.stopped[name] = signal_used
        kept: tuple[str, ...] = ()
        if ending and not report.failed:
            kept = self.end_session(
                [
                    f"{name}\t{'stopped' if s.is_alive or s.manually_stopped else s.describe()}"
                    for name, s in observation.tasks.items()
                ]
            )
            report.session_ended = not self.ctx.tmux.has_session(self.ctx.session)
        if ending and (kept or report.failed):
            self.ctx.tmux.run(["run-shell", "-b", "true"])  # the windows stay: reap them now
        if kept:
            windows = ", ".join(f"'{w}'" for w in kept)
            report.session_kept = (
                f"session '{self.ctx.session}' kept: window(s) {windows} in it are not "
                "taskmux's (close them, then stop again, to end it)"
            )
        if hooks:
            self.ctx.hook("after_stop", None, strict=False)
        return report

    def kill(self, name: str) -> bool:
        """SIGKILL the whole tree, destroy the window, mark it killed on the session."""
        self.ctx.project.task(name)
        return self.kill_if_present(name)

    def kill_if_present(self, name: str) -> bool:
        """Kill the task if it has a window; return whether any of its processes was alive
        (its pane's, or one it left running, such as a server it daemonized)."""
        observation = self.ctx.observe()
        state = observation.tasks.get(name)
        if state is None:
            return False
        with self.ctx.task_locks([name]):
            self.ctx.paths.mark_killed(name)
            self.ctx.tmux.mark_stopped(state.window_id)
        pid = state.pid if state.is_alive else None
        others = _pids(self.note_daemonized(name, state)) if state.dead else ()
        found = procs.kill_tree(
            pid, self.ctx.marker(name), self.ctx.timing, observation.server_pid, others
        )
        # Only this window: the session ends with it if nothing else (a person's window,
        # another task's) is left in it.
        self.ctx.tmux.kill_window(state.window_id)
        self._record("killed", name, manual=True)
        return state.is_alive or found

    def end_session(self, stopped: list[str] | None = None) -> tuple[str, ...]:
        """End the session on purpose: close the task windows unless a person's are there.

        The mark tells a supervisor that this end was meant (not a lost tmux server); its
        first line is the project's name, the others `TASK<tab>STATE` for each task window
        it closes: "stopped" for one running (or stopped by hand), else how it had ended
        ("completed", "exited 1"), which `status` keeps showing once the window is gone.
        Returns the names of the windows that kept the session.
        """
        mark = self.ctx.paths.stop_all_mark
        try:
            mark.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(mark, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            try:
                os.write(fd, "\n".join([self.ctx.config.name, *(stopped or [])]).encode())
            finally:
                os.close(fd)
        except OSError:  # a full disk: the session ends all the same, unmarked
            with contextlib.suppress(OSError):
                mark.unlink(missing_ok=True)
        return self.ctx.tmux.end_session(self.ctx.session)

    def _record(self, event: str, task: str, **data: object) -> None:
        """An event of a stop: best-effort, since a stop must complete whatever the disk
        says (a full one records nothing rather than leave the tasks running)."""
        with contextlib.suppress(OSError):
            self.ctx.events.append(event, task, **data)

    def ended_on_purpose(self) -> bool:
        """Whether the session's end was a `stop` (all), not a loss (see `end_session`)."""
        try:
            fd = os.open(self.ctx.paths.stop_all_mark, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return False
        try:
            first = os.read(fd, 4096).decode(errors="replace").partition("\n")[0]
            return first == self.ctx.config.name
        finally:
            os.close(fd)


def stop_signal_of(task: TaskConfig | None) -> signal.Signals:
    """The first signal of a task's stop (SIGINT for a task no longer in the config)."""
    if task is None:
        return signal.SIGINT
    try:
        return parse_signal(task.stop_signal)
    except ValueError:  # validation refuses these; a stale cache must not block a stop
        return signal.SIGINT


def stop_waves(graph: dict[str, list[str]], names: Iterable[str]) -> list[list[str]]:
    """Dependents before their dependencies (through tasks not stopped too); each wave
    stops in parallel. Linear in the graph's size per task, whatever the depth: a chain
    of 200 tasks is as quick to order as 200 independent ones."""
    remaining = list(dict.fromkeys(names))
    wanted = set(remaining)
    users: dict[str, list[str]] = {}  # task -> the tasks that list it in depends_on
    for task, deps in graph.items():
        for dep in deps:
            users.setdefault(dep, []).append(task)
    waiting_on: dict[str, set[str]] = {n: set() for n in remaining}  # n -> dependents first
    for name in remaining:
        seen: set[str] = set()
        stack = [name]
        while stack:
            for user in users.get(stack.pop(), ()):
                if user not in seen:
                    seen.add(user)
                    stack.append(user)
        waiting_on[name] = (seen & wanted) - {name}
    blocks: dict[str, list[str]] = {n: [] for n in remaining}
    for name, first in waiting_on.items():
        for other in first:
            blocks[other].append(name)
    count = {n: len(first) for n, first in waiting_on.items()}
    waves = []
    left = list(remaining)
    while left:
        wave = [n for n in left if count[n] == 0] or list(left)  # a cycle: all at once
        waves.append(wave)
        done = set(wave)
        for name in wave:
            for other in blocks[name]:
                count[other] -= 1
        left = [n for n in left if n not in done]
    return waves


def _pids(holders: list[Holder]) -> tuple[int, ...]:
    """The known pids of a daemonized task's servers (a stop ends them with the task)."""
    return tuple(h.pid for h in holders if h.pid is not None)
