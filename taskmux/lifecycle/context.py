"""What every part of the lifecycle needs: the project, the tmux seam, the state paths,
the event log, the progress callback, the pauses, and the task's environment.

`launch.py`, `start.py`, `checks.py` and `stop.py` each take one `Context`; the
`Lifecycle` facade (`core.py`) is a context with those parts attached.
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from taskmux.config import taskenv
from taskmux.config.checkout import WORKTREE_VAR, worktree_label
from taskmux.config.project import Project
from taskmux.errors import ConfigError, Problem
from taskmux.lifecycle.results import Progress
from taskmux.lifecycle.sharedread import SharedRead
from taskmux.lifecycle.status import observe_project
from taskmux.logs import spool as logspool
from taskmux.logs.events import EventLog
from taskmux.runtime import timing as timing_module
from taskmux.runtime.hooks import run_hook
from taskmux.runtime.ports import PortBook
from taskmux.runtime.timing import Timing
from taskmux.runtime.tmux_manager import Observation, Tmux
from taskmux.statedir.filelock import locked_all

if TYPE_CHECKING:
    from typing import Self

    from taskmux.runtime.readylog import ReadyScanner


def _no_progress(_progress: Progress) -> None:
    return None


class Context:
    """One project on one tmux server, as every lifecycle action sees it."""

    def __init__(
        self,
        project: Project,
        tmux: Tmux,
        on_progress: Callable[[Progress], None] | None = None,
        timing: Timing | None = None,
    ) -> None:
        self.project = project
        self.config = project.config
        self.session = project.session
        self.last_sight: Observation | None = None  # the last observation with the session
        self.tmux = tmux
        self.paths = project.paths.ensure()
        self.events = EventLog(self.paths.events)
        self.report = on_progress or _no_progress
        self.ports = PortBook(self.paths, self.config)
        self._timing = timing
        self._reads = SharedRead(self._read_session)  # shared by `tagged` copies too
        # Created on first use (it imports the log reader); shared by `tagged` copies.
        self._ready_scanners: list[ReadyScanner] = []

    @property
    def timing(self) -> Timing:
        """The pauses given, else `timing.DEFAULT` as it is now (a test may replace it)."""
        return self._timing if self._timing is not None else timing_module.DEFAULT

    @property
    def ready_scanner(self) -> ReadyScanner:
        """What finds each task's `ready_log` line, remembering how far it read."""
        if not self._ready_scanners:
            from taskmux.runtime.readylog import ReadyScanner

            self._ready_scanners.append(ReadyScanner())
        return self._ready_scanners[0]

    def tagged(self, **tags: object) -> Self:
        """This context, recording `tags` in every event it appends (what caused them)."""
        twin = copy.copy(self)
        twin.events = self.events.tagged(**tags)
        return twin

    def observe(self) -> Observation:
        """One tmux round trip, plus the kill marks; refuses a session that is not ours.
        Threads that ask at once share one round trip (`SharedRead`).

        Also settles which session this checkout uses (`name` or `name-XXXX`, or ours
        under a name a person gave it: renamed back when that name is free).
        """
        observation = self._reads()
        self.session = observation.session
        if observation.session_exists:
            self.last_sight = observation
        return observation

    def _read_session(self) -> Observation:
        observation = observe_project(self.tmux, self.project, rename=True)
        if observation.renamed_from:
            with contextlib.suppress(OSError):  # best effort: a full disk must not block it
                self.events.append(
                    "session_renamed",
                    None,
                    session=observation.session,
                    was=observation.renamed_from,
                )
        return observation

    def task_locks(self, names: Iterable[str]) -> AbstractContextManager[None]:
        return locked_all([self.paths.task_lock(n) for n in names])

    def marker(self, task: str) -> str:
        return self.paths.marker(task)

    def port_of(self, task: str) -> int | None:
        """The task's port; an automatic one is chosen now if it has not been yet."""
        return self.ports.port_of(task)

    def ports_built_from(self, task: str) -> tuple[tuple[str, int], ...]:
        """The other tasks' ports that a launch of `task` writes into it (its `env`, the
        top level's, its command), with their values now: recorded on its window, so a
        port that moves later shows the task as stale (`readmodel.moved_ports`)."""
        spec = self.project.task(task)
        texts = [*self.config.env.values(), *spec.env.values(), spec.command]
        names = dict.fromkeys(n for t in texts for n in taskenv.port_references(t) if n != task)
        found = ((n, self.ports.port_of(n, assign=False)) for n in names)
        return tuple((n, port) for n, port in found if port is not None)

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
        """TASKMUX_PROJECT (the session in use), TASKMUX_WORKTREE, TASKMUX_TASK and PORT:
        taskmux's, always."""
        env = {"TASKMUX_PROJECT": self.session, WORKTREE_VAR: self.worktree}
        if task is not None:
            env["TASKMUX_TASK"] = task
            port = self.port_of(task)
            if port is not None:
                env["PORT"] = str(port)
        return env

    @property
    def worktree(self) -> str:
        """`main`, or this checkout's 4-hex id (`config/checkout.py`)."""
        return worktree_label(self.project.root, self.paths.checkout_id)

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
        """Hooks and health checks: taskmux's own environment plus the task's variables,
        and the names the hooks' documentation promises (TASKMUX_SESSION, and
        TASKMUX_TASK_NAME for a task's)."""
        env = {k: v for k, v in os.environ.items() if k not in taskenv.TASK_VARS}
        env |= self.variables(task, strict)
        env |= self.own_variables(task)
        env["TASKMUX_SESSION"] = self.session
        if task is not None:
            env["TASKMUX_TASK_NAME"] = task
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
