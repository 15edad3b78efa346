"""Start, stop, restart and kill tasks as SPEC §3 describes, carried out through tmux.

`Lifecycle` is the one place that turns a project's config into tmux launches and
process-tree stops. It reports progress through a callback and returns small results;
it never prints. The supervisor reuses `relaunch` and `observe`.
"""

from __future__ import annotations

import copy
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskmux.config import taskenv
from taskmux.config.deps import start_order, transitive_dependencies
from taskmux.config.project import Project
from taskmux.config.schema import Condition, Dependency, TaskConfig
from taskmux.config.signals import parse_signal, signal_name
from taskmux.errors import (
    ConfigError,
    CwdMissing,
    PortBusy,
    Problem,
    StartFailed,
    StopFailed,
    TaskmuxError,
    TmuxError,
)
from taskmux.lifecycle import daemonized
from taskmux.lifecycle.health_report import HealthReport, expectation, task_health
from taskmux.lifecycle.readiness import dependency_verdict, unmet_word
from taskmux.lifecycle.status import observe_project
from taskmux.logs import spool as logspool
from taskmux.logs.events import EventLog
from taskmux.runtime import procs, wakeup
from taskmux.runtime.health import CheckResult
from taskmux.runtime.hooks import run_hook
from taskmux.runtime.port_guard import Holder, Scope, Verdict, judge_all, may_free_all, refusal
from taskmux.runtime.ports import PortBook
from taskmux.runtime.probes import run_probe
from taskmux.runtime.shell import exec_form
from taskmux.runtime.state import (
    Health,
    TaskState,
    in_start_period,
    next_health,
    same_run,
)
from taskmux.runtime.tmux_manager import Launch, Observation, Tmux
from taskmux.statedir.filelock import locked_all

if TYPE_CHECKING:
    from taskmux.runtime.readylog import ReadyScanner

DEPENDENCY_POLL = 0.25
# A task `start` launched counts as up only once it has lived this long: a typo (exit
# 127) dies in milliseconds, a program that cannot import, parse its config or bind its
# port within a few hundred. Every task of a wave settles in the same window, so it costs
# one window per wave, not per task; later deaths are the health checks' and the
# supervisor's to find.
SETTLE_WINDOW = 0.4
SETTLE_POLL = 0.1
# How long a failed start waits for the dead task's last output to reach its log file
# (the log collector is a process of its own, and may still be starting).
LOG_WAIT = 1.0
LAST_LINES = 5
DAEMON_SETTLE = 1.0  # how long a task that exited 0 at start is given to show a forked server


@dataclass(frozen=True)
class Progress:
    """One step of a lifecycle action, for a live display or a log line."""

    task: str
    # waiting, starting, started, completed, running, healthy, skipped, failed, stopping, stopped
    phase: str
    detail: str = ""


@dataclass(frozen=True)
class Death:
    """How a task that died within the settle window ended, and what it printed last."""

    state: str  # "exited 127", "killed by SIGSEGV"
    exit_code: int | None
    signal: str | None
    logs: tuple[str, ...]
    window: float = SETTLE_WINDOW

    def message(self, task: str) -> str:
        text = f"task '{task}' {self.state} within {self.window:g}s of its start"
        if self.logs:
            text += "; last output: " + " | ".join(self.logs)
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "logs": list(self.logs),
        }


@dataclass
class StartReport:
    started: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)  # one-shots that exited 0 at once
    already_running: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    died: dict[str, Death] = field(default_factory=dict)  # failed: dead within the window
    warnings: list[str] = field(default_factory=list)
    error_codes: dict[str, str] = field(default_factory=dict)
    session: str = ""  # the tmux session the tasks run in (`name`, or `name-XXXX`)

    @property
    def ok(self) -> bool:
        return not self.skipped and not self.failed

    def error(self) -> StartFailed | None:
        """The one error that sums up what did not start (None when all did)."""
        if self.ok:
            return None
        if len(self.failed) == 1 and not self.skipped:  # keep the cause's own code
            ((name, message),) = self.failed.items()
            return StartFailed(message, code=self.error_codes.get(name))
        problems = [f"{n} skipped ({why})" for n, why in self.skipped.items()]
        problems += [f"{n} failed ({why})" for n, why in self.failed.items()]
        started = ", ".join(self.started) or "nothing"
        return StartFailed(f"started {started}; " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "started": self.started,
            "completed": self.completed,
            "already_running": self.already_running,
            "skipped": self.skipped,
            "failed": self.failed,
            "died": {name: death.to_dict() for name, death in self.died.items()},
            "warnings": self.warnings,
        }


@dataclass
class Launched:
    """What one launch call did: started, refused (running, stopped by hand), failed.

    With a settle window, `started` holds only the tasks still alive at its end;
    `completed` those that exited 0 within it; a death with any other status is a
    failure, described in `died`.
    """

    started: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    failures: dict[str, TaskmuxError] = field(default_factory=dict)
    completed: list[str] = field(default_factory=list)
    died: dict[str, Death] = field(default_factory=dict)
    daemonized: dict[str, str] = field(default_factory=dict)  # completed, but left a server


@dataclass(frozen=True)
class Checked:
    """A health check's result and the verdict it left on the task's window (if any)."""

    result: CheckResult
    before: Health | None = None
    after: Health | None = None


@dataclass
class StopReport:
    stopped: dict[str, str | None] = field(default_factory=dict)  # task -> signal that ended it
    not_running: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    session_ended: bool = False
    session_kept: str | None = None  # why `stop` (all) left the session in place

    def to_dict(self) -> dict[str, Any]:
        return {
            "stopped": self.stopped,
            "not_running": self.not_running,
            "failed": self.failed,
            "session_ended": self.session_ended,
            "session_kept": self.session_kept,
        }


def _no_progress(_progress: Progress) -> None:
    return None


class Lifecycle:
    """Carries out lifecycle actions for one project on one tmux server."""

    def __init__(
        self, project: Project, tmux: Tmux, on_progress: Callable[[Progress], None] | None = None
    ) -> None:
        self.project = project
        self.config = project.config
        self.session = project.session
        self.last_sight: Observation | None = None  # the last observation with the session
        self.tmux = tmux
        self.paths = project.paths.ensure()
        self.events = EventLog(self.paths.events)
        self.report = on_progress or _no_progress
        # `--kill-port`: this object's starts free a task's port from whatever holds it
        # (that we may signal), not just from this project's orphans.
        self.kill_port = False
        self.ports = PortBook(self.paths, self.config)
        # Created on first use (it imports the log reader); shared by `tagged` copies.
        self._ready_scanners: list[ReadyScanner] = []

    @property
    def ready_scanner(self) -> ReadyScanner:
        """What finds each task's `ready_log` line, remembering how far it read."""
        if not self._ready_scanners:
            from taskmux.runtime.readylog import ReadyScanner

            self._ready_scanners.append(ReadyScanner())
        return self._ready_scanners[0]

    @classmethod
    def for_project(
        cls, project: Project, on_progress: Callable[[Progress], None] | None = None
    ) -> Lifecycle:
        return cls(project, Tmux.from_env(), on_progress)

    def tagged(self, **tags: object) -> Lifecycle:
        """This lifecycle, recording `tags` in every event it appends (what caused them)."""
        twin = copy.copy(self)
        twin.events = self.events.tagged(**tags)
        return twin

    # Facts ---------------------------------------------------------------------------

    def observe(self) -> Observation:
        """One tmux round trip, plus the kill marks; refuses a session that is not ours.

        Also settles which session this checkout uses (`name` or `name-XXXX`).
        """
        observation = observe_project(self.tmux, self.project)
        self.session = observation.session
        if observation.session_exists:
            self.last_sight = observation
        return observation

    def task_locks(self, names: Iterable[str]) -> AbstractContextManager[None]:
        return locked_all([self.paths.task_lock(n) for n in names])

    def marker(self, task: str) -> str:
        return f"{self.paths.root.name}/{task}"

    def port_of(self, task: str) -> int | None:
        """The task's port; an automatic one is chosen now if it has not been yet."""
        return self.ports.port_of(task)

    def variables(self, task: str | None, strict: bool = True) -> dict[str, str]:
        """What `env_file` and `env` give the task (or the top level), in precedence order.

        Strict: a missing env file or an undefined name is a ConfigError (a start must
        not run a task without its settings). Otherwise what could be resolved (a stop).
        """
        values, problems = taskenv.resolve(
            self.config, self.project.root, task, os.environ, self.port_of
        )
        if problems and strict:
            raise ConfigError.from_problems(self.project.located(problems))
        return values

    def own_variables(self, task: str | None) -> dict[str, str]:
        """TASKMUX_PROJECT (the session in use), TASKMUX_TASK and PORT: taskmux's, always."""
        env = {"TASKMUX_PROJECT": self.session}
        if task is not None:
            env["TASKMUX_TASK"] = task
            port = self.port_of(task)
            if port is not None:
                env["PORT"] = str(port)
        return env

    def task_env(self, task: str) -> dict[str, str]:
        """What every launch passes: tmux would otherwise use its server's old environment."""
        env = {
            name: os.environ[name] for name in ("PATH", "VIRTUAL_ENV", "LANG") if name in os.environ
        }
        env |= self.variables(task)
        env |= self.own_variables(task)
        env[taskenv.MARKER_VAR] = self.marker(task)
        return env

    def hook_env(self, task: str | None, strict: bool = True) -> dict[str, str]:
        """Hooks and health checks: taskmux's own environment plus the task's variables."""
        env = {k: v for k, v in os.environ.items() if k not in taskenv.TASK_VARS}
        env |= self.variables(task, strict)
        env |= self.own_variables(task)
        return env

    def environment(self, task: str | None) -> tuple[dict[str, int], dict[str, str]]:
        """For `taskmux env`: every task's port, and the task's environment as it starts.

        The environment is what taskmux adds to its own: `env_file`s, `env`, TASKMUX_PROJECT,
        TASKMUX_TASK and PORT. Automatic ports not chosen yet are chosen now.
        """
        if task is not None:
            self.project.task(task)
        self.observe()  # which session this checkout uses (TASKMUX_PROJECT)
        ports = {name: self.port_of(name) for name in self.config.tasks}
        env = (self.variables(task) | self.own_variables(task)) if task is not None else {}
        return {name: port for name, port in ports.items() if port is not None}, env

    def expand(self, text: str) -> str:
        """`${tasks.NAME.port}` in a command, health check or hook: the only expansion there."""
        try:
            return taskenv.expand_ports(text, self.port_of)
        except taskenv.ExpansionError as exc:  # validation rules this out; say so if not
            raise ConfigError.from_problems(
                self.project.located([Problem(taskenv.E_REFERENCE, str(exc))])
            ) from None

    def hook(
        self, stage: str, task: str | None = None, cwd: Path | None = None, strict: bool = True
    ) -> None:
        """Run a task's hook (or, without a task, the global one) with the task's
        environment, saying so while it runs.

        Two steps are reported: "hook" when it starts and "hook done" when it is over
        (a display can then show what it showed before); a global hook's task is "".
        `strict`: see `variables` (a stop must not be blocked by a missing env file).
        """
        settings = self.project.task(task) if task else None
        command = getattr(settings.hooks if settings else self.config.hooks, stage)
        if not command:
            return
        timeout = self.config.hook_timeout
        if settings is not None and settings.hook_timeout is not None:
            timeout = settings.hook_timeout
        owner = f"task '{task}'" if task else "global"
        env = self.hook_env(task, strict)
        where = cwd or (self.project.task_cwd(task) if task else self.project.root)
        self.report(Progress(task or "", "hook", f"running {stage} hook…"))
        outcome = "failed"
        try:
            run_hook(stage, self.expand(command), where, env, owner, timeout=timeout)
            outcome = "ok"
        finally:
            self.report(Progress(task or "", "hook done", f"{stage} hook {outcome}"))

    def log_command(self, task: str) -> str:
        """The shell command tmux pipes the pane into: an appending `cat` (logspool.py)."""
        return logspool.pipe_command(self.paths, task)

    # Launching -----------------------------------------------------------------------

    def _prepare(self, name: str, hooks: bool) -> Launch:
        """Checks and side effects before a task's process starts: cwd, port, env, hook."""
        task = self.project.task(name)
        cwd = self.project.task_cwd(name)
        if not cwd.is_dir():
            raise CwdMissing(f"task '{name}': working directory {cwd} does not exist")
        port = self._claim_port(name) if task.auto_port else self.port_of(name)
        env = self.task_env(name)  # before the hook: a config error runs nothing
        if hooks:
            self.hook("before_start", name, cwd)
        if port is not None:
            self._free_port(name, port)
        command = exec_form(self.expand(task.command))
        logspool.prepare(self.paths, name)
        return Launch(name, command, cwd, env, self.log_command(name))

    def _claim_port(self, name: str) -> int:
        """An automatic port, kept unless something other than this task now holds it."""
        marker = self.marker(name)

        def is_own(port: int) -> bool:
            holders = procs.port_holders(port)
            return bool(holders) and all(h.marker == marker for h in holders)

        port, previous = self.ports.claim(name, is_own)
        if previous is not None:
            self.events.append("port_changed", name, port=port, previous=previous)
            self.report(Progress(name, "starting", f"port {previous} is taken: now {port}"))
        return port

    def _free_port(self, name: str, port: int) -> None:
        """Free the task's port from this project's orphans (from anything we may signal
        with `kill_port`), recording each kill; raise PortBusy naming what stays."""
        force = self.kill_port
        scopes: list[Scope] = []

        def decide(holders: list[Holder]) -> list[Verdict]:
            scopes.append(self._port_scope(name, holders))
            return judge_all(holders, scopes[-1], force)

        cleanup = procs.free_port(port, decide)
        if cleanup.killed:
            killed = cleanup.killed
            self.events.append(
                "port_freed",
                name,
                port=port,
                pids=[h.pid for h in killed],
                users=[h.user for h in killed],
                commands=[h.command for h in killed],
                forced=force,
            )
            pids = ", ".join(str(h.pid) for h in killed)
            self.report(Progress(name, "starting", f"freed port {port} (ended pid {pids})"))
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
        prefix = self.marker("")
        running: frozenset[str] = frozenset()
        if any(h.marker and h.marker.startswith(prefix) for h in holders):
            running = frozenset(n for n, s in self.observe().tasks.items() if s.is_alive)
        return Scope(
            uid=os.getuid(),
            root=os.path.realpath(self.project.root),
            marker_prefix=prefix,
            task=name,
            running_tasks=running,
            protected=procs.own_lineage(),
        )

    def launch(
        self,
        names: list[str],
        manual: bool = True,
        hooks: bool = True,
        settle: float = 0.0,
        count_restart: bool = False,
    ) -> Launched:
        """Start those of `names` that may start, in one tmux round trip.

        Each task's lock is held from the liveness check through port cleanup and hook to
        the launch, so two processes starting one task, or an automatic restart racing a
        manual stop, cannot both act on it. With `settle`, the launched tasks are watched
        together for that many seconds and only the survivors are reported started (the
        supervisor's restarts pass none: its policy deals with deaths). `count_restart`
        counts the launch as an automatic restart on the task's window, in the same call.
        """
        result = Launched()
        if not names:
            return result
        with self.task_locks(names):
            observation = self.observe()
            eligible = [n for n in names if _may_launch(observation, n, manual)]
            result.refused = [n for n in names if n not in eligible]
            prepared: list[Launch] = []
            if eligible:
                max_bytes = int(self.config.log_max_size_mb * 1024 * 1024)
                logspool.configure(self.paths, max_bytes, self.config.log_backups)
            with ThreadPoolExecutor(max_workers=max(1, min(16, len(eligible)))) as pool:
                futures = {name: pool.submit(self._prepare, name, hooks) for name in eligible}
                for name, future in futures.items():
                    try:
                        prepared.append(future.result())
                    except TaskmuxError as exc:
                        result.failures[name] = exc
            self._launch_in_tmux(prepared, observation, manual, count_restart)
            launched_at = time.time()  # every task of the wave runs from here on
            for spec in prepared:
                self.paths.killed_mark(spec.task).unlink(missing_ok=True)
        fresh = {spec.task: spec for spec in prepared}
        if settle > 0 and fresh:
            self._settle(list(fresh), settle, result, launched_at)
        else:
            result.started = list(fresh)
        failures = result.failures
        for name in result.started:
            self.events.append("started", name, manual=manual)
            self.report(Progress(name, "started"))
        for name in result.completed:
            self.events.append("started", name, manual=manual, completed=True)
            self.report(Progress(name, "completed", "exited 0"))
        if settle > 0:
            self._find_daemonized(result)
        for name, death in result.died.items():
            self.events.append("start_failed", name, manual=manual, **death.to_dict())
            failures[name] = StartFailed(death.message(name))
        if hooks:
            for name in [*result.started, *result.completed]:
                try:
                    self.hook("after_start", name, fresh[name].cwd)
                except TaskmuxError as exc:
                    failures[name] = exc
        for name, error in failures.items():
            self.report(Progress(name, "failed", error.message))
        return result

    def _settle(
        self, names: list[str], window: float, result: Launched, launched_at: float
    ) -> None:
        """Watch freshly launched tasks together for `window` seconds from the end of their
        launch (one tmux round trip per poll, one window for the whole wave) and sort them
        into started, completed (exit 0) and died.

        Counted from when the launch returned, not from tmux's stamp before it: a wave of
        200 windows takes tmux a while to create, and the last task launched must live
        the whole window too."""
        for name in names:
            self.report(Progress(name, "starting"))
        ended: dict[str, TaskState | None] = {}
        deadline = launched_at + window
        while True:
            observation = self.observe()
            for name in names:
                state = observation.tasks.get(name)
                if name not in ended and (state is None or state.dead):
                    ended[name] = state
            remaining = min(window, deadline - time.time())
            if len(ended) == len(names) or remaining <= 0:
                break
            time.sleep(min(SETTLE_POLL, remaining))
        result.started = [n for n in names if n not in ended]
        result.completed = [
            n
            for n, s in ended.items()
            if s is not None and self.project.task(n).is_success(s.exit_status, s.exit_signal)
        ]
        dead = {n: s for n, s in ended.items() if n not in result.completed}
        output = self.last_output({n: s.started_at if s else None for n, s in dead.items()})
        for name, state in dead.items():
            result.died[name] = _death(state, output.get(name, ()), window)

    def _find_daemonized(self, result: Launched) -> None:
        """A task with a port that exited 0 at once may have forked a server into the
        background (`--daemonize yes`): say so, since taskmux cannot supervise that."""
        candidates = [n for n in result.completed if self.project.task(n).port is not None]
        if not candidates:
            return
        observation = self.observe()
        for name in candidates:
            state = observation.tasks.get(name)
            holders = self.note_daemonized(name, state, DAEMON_SETTLE) if state else []
            if holders:
                pids = ", ".join(str(h.pid) for h in holders)
                message = (
                    f"task '{name}' exited 0 and left pid {pids} holding its port: it daemonized "
                    f"itself, so taskmux cannot supervise it ({daemonized.advice(holders)})"
                )
                result.daemonized[name] = message
                self.report(Progress(name, "daemonized", message))

    def last_output(self, since: dict[str, float | None]) -> dict[str, tuple[str, ...]]:
        """Each task's last lines of output since its start, once its log has them.

        The log collector is a process of its own that may still be starting when a task
        dies at once: wait (up to LOG_WAIT) until each task's tail stops changing.
        """
        if not since:
            return {}
        deadline = time.monotonic() + LOG_WAIT
        found: dict[str, tuple[str, ...]] = {}
        pending = set(since)
        while True:
            for name in list(pending):
                lines = self._tail_since(name, since[name])
                if lines and lines == found.get(name):
                    pending.discard(name)
                found[name] = lines
            if not pending or time.monotonic() >= deadline:
                return found
            time.sleep(0.05)

    def _tail_since(self, name: str, since: float | None) -> tuple[str, ...]:
        from taskmux.logs.lines import TaskLog  # only for a task that died: not on every start
        from taskmux.logs.reading import tail

        log = TaskLog(name, self.paths.log_file(name))
        texts = [
            line.text.strip()[:300]
            for line in tail(log, LAST_LINES * 4)
            if since is None or line.ts >= since - 0.001
        ]
        return tuple([t for t in texts if t][-LAST_LINES:])

    def _launch_in_tmux(
        self, specs: list[Launch], observation: Observation, manual: bool, count: bool = False
    ) -> None:
        owner = self.paths.root.name
        try:
            self.tmux.launch(observation.session, specs, observation, manual, owner, count)
        except TmuxError as exc:
            if "duplicate session" not in exc.message:
                raise
            # A session of this name appeared a moment ago. Add windows to it only if it
            # is ours (another taskmux process of this project, which tags it in the same
            # command list that creates it); if it is another checkout's, `observe` now
            # picks this checkout's own name; anyone else's it refuses (E305).
            again = self.observe()
            specs = [replace(s, env=s.env | self.own_variables(s.task)) for s in specs]
            self.tmux.launch(again.session, specs, again, manual, owner)
        if specs:
            self.paths.stop_all_mark.unlink(missing_ok=True)  # the session is meant to run
            logspool.ensure_collector(self.paths.root)  # after the spools were touched
            wakeup.poke(self.paths.root)  # a supervisor starts watching the new processes

    def end_session(self) -> tuple[str, ...]:
        """End the session on purpose: close the task windows unless a person's are there.

        The mark tells a supervisor that this end was meant (not a lost tmux server).
        Returns the names of the windows that kept the session.
        """
        mark = self.paths.stop_all_mark
        mark.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(mark, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, self.config.name.encode())
        finally:
            os.close(fd)
        return self.tmux.end_session(self.session)

    def ended_on_purpose(self) -> bool:
        """Whether the session's end was a `stop` (all), not a loss (see `end_session`)."""
        try:
            fd = os.open(self.paths.stop_all_mark, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return False
        try:
            return os.read(fd, 4096).decode(errors="replace") == self.config.name
        finally:
            os.close(fd)

    def start(
        self,
        names: list[str] | None = None,
        with_deps: bool = False,
        deadline: float | None = None,
    ) -> StartReport:
        """Start tasks in dependency order; independent ones together. See SPEC §3 and §9.

        `with_deps`: also start everything the named tasks depend on, transitively.
        `deadline` (a `time.monotonic()` value): waits for dependencies give up then.
        """
        report = StartReport()
        explicit = names is not None
        graph = self.config.graph()
        if names is None:
            wanted = (
                [n for n, t in self.config.tasks.items() if t.auto_start]
                if self.config.auto_start
                else []
            )
        else:
            self.project.check_names(names)
            wanted = list(dict.fromkeys(names))
        if with_deps:
            wanted = transitive_dependencies(graph, wanted)
        order = start_order(graph, wanted)
        observation = self.observe()
        report.session = observation.session
        running = {n for n, s in observation.tasks.items() if s.is_alive}
        report.already_running = [n for n in order if n in running]
        for name in report.already_running:
            self.report(Progress(name, "running", "already running"))
        to_launch = [n for n in order if n not in running]
        in_scope = set(order) | running
        report.warnings += self._outside_dependencies(order, in_scope, observation, explicit)
        if not to_launch:
            return report
        for name in to_launch:  # a config error in any task's env: nothing runs
            self.variables(name)
        self.hook("before_start", None)
        self._start_in_order(to_launch, in_scope, report, deadline)
        if report.started or report.completed:
            try:
                self.hook("after_start", None)
            except TaskmuxError as exc:
                report.warnings.append(exc.message)
        return report

    def _outside_dependencies(
        self, order: list[str], in_scope: set[str], observation: Observation, explicit: bool
    ) -> list[str]:
        """A warning for each dependency this start leaves out and that does not meet its
        condition already (a migration that completed earlier does)."""
        warnings = []
        for name in order:
            for dep in self.project.task(name).depends_on:
                if dep.task in in_scope:
                    continue
                state = observation.tasks.get(dep.task)
                verdict = dependency_verdict(dep.condition, self.project.task(dep.task), state)
                if verdict.status == "met":
                    continue
                if explicit:
                    why = "not started with it; --with-deps starts it too"
                else:
                    why = "auto_start = false"
                warnings.append(
                    f"task '{name}': dependency '{dep.task}' {unmet_word(dep.condition)} ({why})"
                )
        return warnings

    def _start_in_order(
        self, to_launch: list[str], in_scope: set[str], report: StartReport, deadline: float | None
    ) -> None:
        cancel = threading.Event()
        workers = max(4, sum(len(self.project.task(n).depends_on) for n in to_launch))
        with ThreadPoolExecutor(max_workers=min(32, workers)) as pool:
            try:
                self._schedule(list(to_launch), in_scope, report, pool, cancel, deadline)
            finally:
                cancel.set()  # let waits still running end now (Ctrl+C, or nothing left)

    def _schedule(
        self,
        pending: list[str],
        in_scope: set[str],
        report: StartReport,
        pool: ThreadPoolExecutor,
        cancel: threading.Event,
        deadline: float | None,
    ) -> None:
        """Launch each task once its dependencies meet their conditions; skip those whose
        cannot, at once, with the reason.

        Each wave of ready tasks is launched together and settles together: a task that
        dies within the settle window failed to start, and its dependents are skipped.
        A dependency's condition is waited for (in a worker) once it has been launched;
        `started` is met by the launch itself.
        """
        up = {n for n in in_scope if n not in pending}  # running before this start
        met: set[tuple[str, str]] = {(n, "started") for n in up}
        unmet: dict[tuple[str, str], str] = {}
        broken: dict[str, str] = {}  # tasks that failed to start or were skipped
        waits: dict[Future[str | None], tuple[str, str]] = {}
        asked: set[tuple[str, str]] = set()
        while pending:
            ready, blocked = [], []
            for name in pending:
                deps = [d for d in self.project.task(name).depends_on if d.task in in_scope]
                reason = _blocking_reason(deps, broken, unmet, met)
                if reason is not None:
                    report.skipped[name] = reason
                    broken[name] = "was skipped"
                    self.report(Progress(name, "skipped", reason))
                    continue
                waiting = [d for d in deps if (d.task, d.condition) not in met]
                if not waiting:
                    ready.append(name)
                    continue
                blocked.append(name)
                for dep in waiting:
                    key = (dep.task, dep.condition)
                    if dep.task in up and key not in asked:
                        asked.add(key)
                        future = pool.submit(
                            self.wait_condition, dep.task, dep.condition, cancel, deadline
                        )
                        waits[future] = key
                words = ", ".join(_condition_text(d.task, d.condition) for d in waiting)
                self.report(Progress(name, "waiting", "waiting for " + words))
            pending = blocked
            if ready:
                self._launch_wave(ready, report, broken)
                for name in ready:
                    if name not in broken:
                        up.add(name)
                        met.add((name, "started"))
                    elif _exited(report.died.get(name)):  # it ran, and ended: "completed"
                        met.add((name, "completed"))
                continue  # their dependents' waits start in the next round
            if not pending:
                break
            if not waits:  # nothing left that could unblock them (never expected)
                for name in pending:
                    report.skipped[name] = "its dependencies were not started"
                break
            done, _ = wait(list(waits), return_when=FIRST_COMPLETED)
            for future in done:
                dep_name, condition = waits.pop(future)
                problem = future.result()
                if problem is None:
                    met.add((dep_name, condition))
                    if condition == "healthy" and dep_name not in report.completed:
                        self.report(Progress(dep_name, "healthy"))
                else:
                    unmet[(dep_name, condition)] = problem
        for future in waits:
            future.cancel()

    def _launch_wave(self, ready: list[str], report: StartReport, broken: dict[str, str]) -> None:
        """Launch one wave and sort its tasks into the report; failures go to `broken`."""
        launched = self.launch(ready, settle=SETTLE_WINDOW)
        failures = launched.failures
        report.died |= launched.died
        for name in ready:
            if name in failures:
                report.failed[name] = failures[name].message
                report.error_codes[name] = failures[name].code
                death = launched.died.get(name)
                why = f"({death.state})" if death else f": {failures[name].message}"
                broken[name] = f"failed to start {why}"
                continue
            if name in launched.daemonized:
                report.warnings.append(launched.daemonized[name])
            if name in launched.completed:
                report.completed.append(name)
            elif name in launched.refused:  # a racing `start` launched it
                report.already_running.append(name)
            else:
                report.started.append(name)

    def wait_condition(
        self,
        name: str,
        condition: Condition,
        cancel: threading.Event | None = None,
        deadline: float | None = None,
    ) -> str | None:
        """Wait until a started dependency meets `condition`; None when it does, else why
        it cannot (at once, when it exits in a way that rules the condition out).

        "healthy" gives up after health_start_period + health_retries * health_interval;
        the completion conditions wait as long as the task runs. Either ends at `deadline`
        (a `time.monotonic()` value), if given.
        """
        task = self.project.task(name)
        began = time.monotonic()
        limit = deadline
        ending = "when the timeout ran out"
        if condition == "healthy":
            patience = task.health_start_period + task.health_retries * task.health_interval
            if deadline is None or began + patience < deadline:
                limit, ending = began + patience, f"(gave up after {patience:g}s)"
        last = "was not healthy yet"
        while True:
            state = self.observe().tasks.get(name)
            verdict = dependency_verdict(condition, task, state)
            if verdict.status == "met":
                if state is not None and state.dead:  # a one-shot finished
                    how = state.exit_text() if state.exit_signal else f"exited {state.exit_status}"
                    self.report(Progress(name, "completed", how))
                return None
            if verdict.status == "failed":
                return verdict.reason
            if verdict.status == "check":
                result = self.check(name, state)
                if result.healthy:
                    return None
                last = f"is not healthy: {result.reason}" if result.reason else "is not healthy"
            elif condition != "healthy":
                last = "was still running"
            if limit is not None and time.monotonic() >= limit:
                return f"{last} {ending}"
            pause = DEPENDENCY_POLL
            if limit is not None:
                pause = min(pause, max(0.0, limit - time.monotonic()))
            if cancel is not None and cancel.wait(pause):
                return "was not waited for (start interrupted)"
            if cancel is None:
                time.sleep(pause)

    # Health --------------------------------------------------------------------------

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
        task = self.project.task(name)
        if state is None or state.dead:
            what = "not running" if state is None else state.exit_text()
            return CheckResult(False, None, what, 0.0, kind="process"), False, False
        try:  # the probe sees the task's environment; `${tasks.NAME.port}` expands in it
            probing, env = self._probe_settings(name, task), self.hook_env(name)
        except TaskmuxError as exc:  # its env file went missing: the probe cannot run
            return CheckResult(False, None, f"probe not run: {exc.message}", 0.0), False, False
        probed = run_probe(probing, self.project.task_cwd(name), timeout, env)
        result = probed or CheckResult(True, None, "process alive", 0.0, kind="process")
        ready = True
        if task.ready_log is not None:
            ready = self.ready_seen(name, task, state)
            result = result.with_ready_line(task.ready_log, ready)
        return result, probed is None or probed.healthy, ready

    def _probe_settings(self, name: str, task: TaskConfig) -> TaskConfig:
        """The task's probe as it runs: ports expanded, `health_tcp = true` on its real port."""
        import dataclasses

        changes: dict[str, Any] = {}
        if task.health_check is not None:
            changes["health_check"] = self.expand(task.health_check)
        if task.health_url is not None:
            changes["health_url"] = self.expand(task.health_url)
        if task.health_tcp is True and task.auto_port:
            changes["health_tcp"] = self.port_of(name)
        return dataclasses.replace(task, **changes) if changes else task

    def ready_seen(self, name: str, task: TaskConfig, state: TaskState) -> bool:
        """Whether the run `state` shows printed its ready line; remembered on its window."""
        if task.ready_log is None or state.ready_seen:
            return True
        if state.started_at is None:
            return False
        from taskmux.logs.lines import TaskLog

        log = TaskLog(name, self.paths.log_file(name))
        if not self.ready_scanner.seen(log, task.ready_log, state.started_at, task.health_timeout):
            return False
        self.tmux.set_ready(state.window_id, state.started_at)
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
        task = self.project.task(name)
        if state.dead or not task.needs_check:
            return Checked(result)
        run = state.started_at
        # The supervisor is the only writer of the streak, so what it saw is still
        # current; any other check reads the window again, after its check ran.
        current = state if count else self.observe().tasks.get(name)
        if current is None or current.dead or not same_run(current.started_at, run):
            return Checked(result)  # the run that was checked is over: its verdict is moot
        before = current.health
        now = time.time()
        counted = count and (passed or not in_start_period(task.health_start_period, run, now))
        after = next_health(
            before, passed, counted, task.health_retries, now, run, result.reason, ready
        )
        self.tmux.set_health(current.window_id, after)
        return Checked(result, before, after)

    def health(self) -> HealthReport:
        """Every task's health; checks of the running ones run concurrently, each with its
        own timeout. Tasks nobody meant to run are reported, not checked."""
        observation = self.observe()
        names = list(self.config.tasks)
        expected = {
            n: expectation(self.config.tasks[n], observation.tasks.get(n), n in observation.killed)
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
                self.config.tasks[n].health_start_period, observation.tasks[n].started_at, now
            )
        }
        return HealthReport(
            {n: task_health(n, *expected[n], results.get(n), n in starting) for n in names}
        )

    # Stopping ------------------------------------------------------------------------

    def mark_all_stopped(self, states: dict[str, TaskState]) -> None:
        """Mark tasks stopped by hand, under their locks (an automatic restart either happened
        before or sees the mark), in one tmux round trip."""
        if not states:
            return
        with self.task_locks(list(states)):
            self.tmux.mark_all_stopped([s.window_id for s in states.values()])

    def stop_target(self, name: str, pid: int | None = None) -> procs.StopTarget:
        """What `end_processes` needs to stop a task: its pane process, marker, escalation."""
        task = self.config.tasks.get(name)
        grace = task.stop_grace_period if task is not None else 5.0
        return procs.StopTarget(pid, self.marker(name), grace, stop_signal_of(task))

    def end_processes(self, name: str, pid: int | None = None) -> str | None:
        """The one way taskmux stops a task's processes (a manual stop, an automatic
        restart, a give-up, the leftovers of a lost session): its pane process `pid`, its
        group, its descendants and whatever carries its marker, through the SIGINT →
        SIGTERM → SIGKILL escalation. Returns the signal that ended them (None: none ran)."""
        return self.end_all_processes({name: pid})[name]

    def end_all_processes(self, pids: dict[str, int | None]) -> dict[str, str | None]:
        """`end_processes` for many tasks at once: one process scan shared by all, every
        escalation running side by side (N tasks that take G s each end in about G s)."""
        names = list(pids)
        ended = procs.stop_trees([self.stop_target(n, pids[n]) for n in names])
        return {n: e.signal for n, e in zip(names, ended, strict=True)}

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
            self.report(Progress(name, "stopping"))
        # A dead task is marked too: the mark blocks a pending restart; what it left
        # running (a server that daemonized, an orphan) still goes.
        self.mark_all_stopped({n: states[n] for n in wave if n not in failures})
        dead = [n for n in wave if states[n].dead]
        table = procs.ProcessTable.scan()
        leftovers = {n: table.members(None, self.marker(n)) for n in dead}
        leftovers = {n: found for n, found in leftovers.items() if found}
        daemons = {n: self._announce_leftovers(n, states[n], leftovers[n]) for n in leftovers}
        order = [*live, *leftovers]
        targets = [
            self.stop_target(n, states[n].pid if n in live and states[n].is_alive else None)
            for n in order
        ]
        ended = dict(zip(order, procs.stop_trees(targets, table), strict=True))
        if live and reap:
            self.tmux.run(["run-shell", "-b", "true"])  # let tmux reap at once (3.3a)
        used: dict[str, str | None] = {n: None for n in dead}
        for name in live:
            survivors = ended[name].survivors
            if survivors:  # not ours to call stopped: say what is still there
                failures[name] = StopFailed(
                    f"task '{name}': could not stop {procs.describe(survivors)} (SIGKILL failed)"
                )
                continue
            used[name] = ended[name].signal
            self.events.append("stopped", name, manual=True, signal=used[name])
            self.report(Progress(name, "stopped", used[name] or "not running"))
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
            if n in self.config.tasks and getattr(self.config.tasks[n].hooks, stage)
        ]
        if not having:
            return {}
        failures: dict[str, TaskmuxError] = {}
        with ThreadPoolExecutor(max_workers=min(32, len(having))) as pool:
            futures = {
                n: pool.submit(self.hook, stage, n, self.project.task_cwd(n), False) for n in having
            }
            for name, future in futures.items():
                try:
                    future.result()
                except TaskmuxError as exc:
                    failures[name] = exc
        return failures

    def _announce_leftovers(
        self, name: str, state: TaskState, found: list[procs.Proc]
    ) -> list[Holder]:
        """Say what a dead task left running, before it is stopped; its daemonized servers."""
        daemons = self.note_daemonized(name, state)
        what = procs.describe(found)
        self.report(Progress(name, "stopping", f"{what}, left running after the task exited"))
        return daemons

    def _leftovers_ended(
        self, name: str, found: list[procs.Proc], ended: procs.Ended, daemons: list[Holder]
    ) -> str | None:
        """Record the end of what a dead task left running; raise StopFailed naming what
        survived even SIGKILL."""
        if ended.survivors:
            raise StopFailed(
                f"task '{name}': could not stop {procs.describe(ended.survivors)} (SIGKILL failed)"
            )
        self.events.append(
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
        task = self.config.tasks.get(name)
        port = self.ports.port_of(name, assign=False) if task is not None else None
        if port is not None and procs.port_is_held(port):
            who = ", ".join(h.describe() for h in procs.port_holders(port))
            detail += f"; port {port} is still held by {who}, not this task's: left alone"
        self.report(Progress(name, "stopped", detail))
        return ended.signal

    def note_daemonized(self, name: str, state: TaskState, wait: float = 0.0) -> list[Holder]:
        """The task's processes on its port if it daemonized (recorded once as an event).

        `wait`: how long to give the background child to bind after its parent exited.
        """
        return daemonized.note(self.project, name, state, wait)

    def stop(self, names: list[str] | None = None, hooks: bool = True) -> StopReport:
        """Stop tasks (all, then end the session, when no names are given)."""
        report = StopReport()
        if names is not None:
            self.project.check_names(names)
        observation = self.observe()
        if not observation.session_exists:
            if names is None:
                return report
            report.not_running = list(names)
            return report
        targets = list(names) if names is not None else list(observation.tasks)
        if hooks:
            self.hook("before_stop", None, strict=False)
        graph = self.config.graph()
        waves = _stop_waves(graph, [t for t in targets if t in observation.tasks])
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
            kept = self.end_session()
            report.session_ended = not self.tmux.has_session(self.session)
        if ending and (kept or report.failed):
            self.tmux.run(["run-shell", "-b", "true"])  # the windows stay: reap them now
        if kept:
            windows = ", ".join(f"'{w}'" for w in kept)
            report.session_kept = (
                f"session '{self.session}' kept: window(s) {windows} in it are not "
                "taskmux's (close them, then stop again, to end it)"
            )
        if hooks:
            self.hook("after_stop", None, strict=False)
        return report

    def restart(self, names: list[str] | None = None) -> StartReport:
        """Full stop, port cleanup, start in place; clears manual-stop marks and counts."""
        if names is None:
            observation = self.observe()
            names = [
                n for n, t in self.config.tasks.items() if t.auto_start or n in observation.tasks
            ]
        else:
            self.project.check_names(names)
        observation = self.observe()
        for name in names:  # a config error in an env: refuse before stopping anything
            self.variables(name)
        present = [n for n in names if n in observation.tasks]
        if present:
            stop_report = self.stop(present)
            if stop_report.failed:
                report = StartReport(failed=dict(stop_report.failed))
                return report
        return self.start(names)

    def kill(self, name: str) -> bool:
        """SIGKILL the whole tree, destroy the window, mark it killed on the session."""
        self.project.task(name)
        return self.kill_if_present(name)

    def kill_if_present(self, name: str) -> bool:
        """Kill the task if it has a window; return whether any of its processes was alive
        (its pane's, or one it left running, such as a server it daemonized)."""
        observation = self.observe()
        state = observation.tasks.get(name)
        if state is None:
            return False
        with self.task_locks([name]):
            self.paths.mark_killed(name)
            self.tmux.mark_stopped(state.window_id)
        found = procs.kill_tree(state.pid if state.is_alive else None, self.marker(name))
        # Only this window: the session ends with it if nothing else (a person's window,
        # another task's) is left in it.
        self.tmux.kill_window(state.window_id)
        self.events.append("killed", name, manual=True)
        return state.is_alive or found


def stop_signal_of(task: TaskConfig | None) -> signal.Signals:
    """The first signal of a task's stop (SIGINT for a task no longer in the config)."""
    if task is None:
        return signal.SIGINT
    try:
        return parse_signal(task.stop_signal)
    except ValueError:  # validation refuses these; a stale cache must not block a stop
        return signal.SIGINT


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


def _stop_waves(graph: dict[str, list[str]], names: Iterable[str]) -> list[list[str]]:
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


def _may_launch(observation: Observation, task: str, manual: bool) -> bool:
    """Never launch over a live process; an automatic restart also yields to a manual stop."""
    state = observation.tasks.get(task)
    if state is None:
        return manual or task not in observation.killed
    if state.is_alive:
        return False
    return manual or not (state.manually_stopped or state.gave_up)


def _exited(death: Death | None) -> bool:
    """Whether a task that failed to start did run and end (not: its window vanished)."""
    return death is not None and (death.exit_code is not None or death.signal is not None)


def _death(state: TaskState | None, logs: tuple[str, ...], window: float) -> Death:
    if state is None:
        return Death("was killed (its window closed)", None, None, logs, window)
    code = state.exit_status if state.exit_signal is None else None
    sig = signal_name(state.exit_signal) if state.exit_signal is not None else None
    return Death(state.exit_text(), code, sig, logs, window)
