"""What the supervisor may do to a project: exactly the operations it needs, no more.

`Supervised` is the narrow interface the `Supervisor` is written against; `LifecycleSeam`
carries it out through a `Lifecycle` (tmux, processes, the event log), and the history
tests replay scripted deaths and checks through an in-memory one with a fake clock.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from taskmux.errors import TaskmuxError
from taskmux.lifecycle import logpipes
from taskmux.logs import spool as logspool
from taskmux.runtime.hooks import run_hook
from taskmux.supervision.filewatch import WatchSpec

if TYPE_CHECKING:
    from taskmux.config.schema import Condition, ProjectConfig
    from taskmux.lifecycle.core import Lifecycle
    from taskmux.lifecycle.results import Checked, Launched, StartReport
    from taskmux.runtime.port_guard import Holder
    from taskmux.runtime.state import TaskState
    from taskmux.runtime.timing import Timing
    from taskmux.runtime.tmux_manager import Observation


class Supervised(Protocol):
    """One project as its supervisor sees it: facts, marks on task windows, actions."""

    # Facts
    @property
    def config(self) -> ProjectConfig: ...
    @property
    def session(self) -> str: ...
    @property
    def state_root(self) -> Path: ...
    @property
    def timing(self) -> Timing: ...
    def observe(self) -> Observation: ...
    def server_pid(self) -> int | None: ...
    def ended_on_purpose(self) -> bool: ...
    def watch_specs(self) -> dict[str, WatchSpec]: ...
    def collector_pid(self) -> int | None: ...
    def record(self, event: str, task: str | None, **fields: object) -> None: ...
    def tagged(self, **tags: object) -> Supervised: ...

    # Marks on a task's window (they outlive the supervisor)
    def note_exit_seen(self, window_id: str, death_id: str) -> None: ...
    def set_restarts(self, window_id: str, count: int | None) -> None: ...
    def count_restart(self, window_id: str) -> None: ...
    def give_up(self, window_id: str) -> None: ...
    def schedule_restart(self, window_id: str, at: float) -> None: ...
    def cancel_restart(self, window_id: str) -> None: ...

    # Actions
    def check(self, name: str, state: TaskState) -> Checked: ...
    def note_daemonized(self, name: str, state: TaskState, wait: float) -> list[Holder]: ...
    def end_processes(self, name: str, pid: int | None) -> str | None: ...
    def end_all_processes(self, pids: dict[str, int | None]) -> dict[str, str | None]: ...
    def relaunch(self, names: list[str], count_restart: bool = False) -> Launched: ...
    def restart(self, name: str) -> StartReport: ...
    def build(self, name: str, command: str) -> str | None: ...
    def wait_condition(self, name: str, condition: Condition, timeout: float) -> str | None: ...
    def ensure_collector(self) -> None: ...
    def restart_dependents(self, name: str) -> list[str]: ...
    def last_line(self, name: str) -> str: ...
    def redacted(self, task: str | None, fields: dict[str, Any]) -> dict[str, Any]: ...
    def set_status_line(self, session: str, text: str | None) -> None: ...


class LifecycleSeam:
    """`Supervised`, carried out by a `Lifecycle` (one per config in use)."""

    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lifecycle = lifecycle

    @property
    def config(self) -> ProjectConfig:
        return self.lifecycle.config

    @property
    def session(self) -> str:
        return self.lifecycle.session

    @property
    def state_root(self) -> Path:
        return self.lifecycle.paths.root

    @property
    def timing(self) -> Timing:
        return self.lifecycle.timing

    def observe(self) -> Observation:
        lifecycle = self.lifecycle  # a lost log pipe is attached again (issue 23)
        return logpipes.reattach(
            lifecycle.project, lifecycle.tmux, lifecycle.observe(), lifecycle.events
        )

    def server_pid(self) -> int | None:
        return self.lifecycle.tmux.server_pid()

    def ended_on_purpose(self) -> bool:
        return self.lifecycle.ended_on_purpose()

    def watch_specs(self) -> dict[str, WatchSpec]:
        """What each task with `watch` patterns watches, from its config and cwd."""
        project = self.lifecycle.project
        return {
            name: WatchSpec(
                os.path.realpath(project.task_cwd(name)),
                tuple(task.watch),
                tuple(task.watch_ignore),
                task.watch_cmd,
            )
            for name, task in self.config.tasks.items()
            if task.watch
        }

    def collector_pid(self) -> int | None:
        return logspool.collector_pid(self.state_root)

    def ensure_collector(self) -> None:
        logspool.ensure_collector(self.state_root)

    def record(self, event: str, task: str | None, **fields: object) -> None:
        """An event; a task's text fields (a failed check's or watch command's output)
        with its secrets hidden, as every read of its output has them."""
        self.lifecycle.events.append(event, task, **self.redacted(task, fields))

    def redacted(self, task: str | None, fields: dict[str, Any]) -> dict[str, Any]:
        """`fields` with the task's secrets hidden in its text values."""
        if task is not None and task in self.lifecycle.config.tasks:
            from taskmux.lifecycle.redaction import task_redactor

            redactor = task_redactor(self.lifecycle.project, task)
            if redactor is not None:
                return {k: redactor.text(v) if isinstance(v, str) else v for k, v in fields.items()}
        return fields

    def last_line(self, name: str) -> str:
        """The last line the task printed (secrets hidden), "" when none."""
        from taskmux.lifecycle.redaction import task_logs
        from taskmux.logs.reading import tail

        logs = task_logs(self.lifecycle.project, [name], True, self.lifecycle.observe)
        lines = tail(logs[0], 5) if logs else []
        return next((line.text.strip() for line in reversed(lines) if line.text.strip()), "")

    def tagged(self, **tags: object) -> LifecycleSeam:
        return LifecycleSeam(self.lifecycle.tagged(**tags))

    def note_exit_seen(self, window_id: str, death_id: str) -> None:
        self.lifecycle.tmux.note_exit_seen(window_id, death_id)

    def set_restarts(self, window_id: str, count: int | None) -> None:
        self.lifecycle.tmux.set_restarts(window_id, count)

    def count_restart(self, window_id: str) -> None:
        self.lifecycle.tmux.count_restart(window_id)

    def give_up(self, window_id: str) -> None:
        self.lifecycle.tmux.give_up(window_id)

    def schedule_restart(self, window_id: str, at: float) -> None:
        self.lifecycle.tmux.schedule_restart(window_id, at)

    def cancel_restart(self, window_id: str) -> None:
        self.lifecycle.tmux.cancel_restart(window_id)

    def check(self, name: str, state: TaskState) -> Checked:
        """A check on the task's own schedule: it counts toward the failure streak."""
        return self.lifecycle.checked(name, state, True)

    def note_daemonized(self, name: str, state: TaskState, wait: float) -> list[Holder]:
        return self.lifecycle.note_daemonized(name, state, wait)

    def end_processes(self, name: str, pid: int | None) -> str | None:
        return self.lifecycle.end_processes(name, pid)

    def end_all_processes(self, pids: dict[str, int | None]) -> dict[str, str | None]:
        return self.lifecycle.end_all_processes(pids)

    def relaunch(self, names: list[str], count_restart: bool = False) -> Launched:
        """An automatic launch: it yields to a manual stop, frees only the project's own
        orphans from a port (never `--kill-port`), and waits for no settle window."""
        return self.lifecycle.launch(names, manual=False, count_restart=count_restart)

    def restart(self, name: str) -> StartReport:
        """As `taskmux restart NAME` (hooks, port cleanup of own orphans, settle window)."""
        return self.lifecycle.restart([name])

    def build(self, name: str, command: str) -> str | None:
        """Run a task's `watch_cmd` as its hooks run (cwd, environment, `hook_timeout`);
        None when it succeeded, else why not (exit code and last output)."""
        task = self.config.tasks[name]
        try:
            run_hook(
                "watch_cmd",
                command,
                self.lifecycle.project.task_cwd(name),
                self.lifecycle.hook_env(name),
                f"task '{name}'",
                timeout=task.hook_timeout or self.config.hook_timeout,
            )
        except TaskmuxError as exc:
            return exc.message
        return None

    def wait_condition(self, name: str, condition: Condition, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        return self.lifecycle.wait_condition(name, condition, deadline=deadline)

    def restart_dependents(self, name: str) -> list[str]:
        """After a restart of `name` (`restart_dependents = true`): once it is ready, its
        dependents, as `restart --cascade` does; the names restarted."""
        from taskmux.lifecycle.cascade import restart_cascade
        from taskmux.lifecycle.results import StartReport

        report = restart_cascade(self.lifecycle, [name], StartReport(started=[name]))
        for held, why in report.skipped.items():
            self.record("cascade_skipped", held, reason=why)
        return report.cascaded

    def set_status_line(self, session: str, text: str | None) -> None:
        """The session's own `status-right` (None: unset, back to the global one); never
        `-g`, never another session."""
        target = f"={session}:"
        if text is None:
            self.lifecycle.tmux.run(
                ["set-option", "-u", "-t", target, "status-right"],
                ["set-option", "-u", "-t", target, "status-right-length"],
            )
            return
        length = str(max(40, len(text)))
        self.lifecycle.tmux.run(
            ["set-option", "-t", target, "status-right", text],
            ["set-option", "-t", target, "status-right-length", length],
        )
