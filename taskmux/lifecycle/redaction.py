"""Where the secrets to hide come from: each task's resolved `env`/`env_file` and `secrets`.

Every read of a task's output for a user (the service's log reads, `wait`/`start`
explanations) takes its log through `task_logs`, so the lines come back with the
task's secret values replaced by `[redacted:NAME]` (`logs/redact.py`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from taskmux.config.project import Project
from taskmux.config.taskenv import resolve
from taskmux.logs.lines import LogLine, TaskLog
from taskmux.logs.reading import tail
from taskmux.logs.redact import Redactor, redact_lines, secret_values

if TYPE_CHECKING:
    from taskmux.runtime.tmux_manager import Observation


def given(pid: int | None) -> dict[str, str]:
    """The environment a running task's pane was given (its /proc environ; this user's
    own process): what it holds, whatever the reader's environment would resolve."""
    if pid is None:
        return {}
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            raw = handle.read()
    except OSError:
        return {}
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {key: value for key, _, value in pairs}


def task_redactor(project: Project, name: str, pid: int | None = None) -> Redactor | None:
    """The task's Redactor (None when it has no secret): from what `env_file` and `env`
    give it now, expanded as a start would (a port not chosen yet counts as 0, so a
    value that names one still has its password found)."""
    from taskmux.lifecycle.status import recorded_ports

    config = project.config
    spec = config.tasks[name]
    ports = recorded_ports(project)

    def port_of(target: str) -> int | None:
        other = config.tasks.get(target)
        if other is None or other.port is None:
            return None
        return ports.get(target, 0) if other.auto_port else int(other.port)

    values, _ = resolve(config, project.root, name, os.environ, port_of)
    listed = [*config.secrets, *spec.secrets]
    # What the running task got counts too: a `${VAR}` the reader lacks (another shell,
    # the daemon, MCP) or a secret rotated since its start is still hidden.
    found = secret_values(given(pid), listed) | secret_values(values, listed)
    return Redactor(found) if found else None


def resolves_here(project: Project, name: str) -> bool:
    """Whether this process resolves every variable the task's `env` and `env_file` give
    it: only then does its Redactor know every value a stopped task may have printed.
    A reader in another environment (the URL proxy serving other projects, a daemon
    started elsewhere) shows such a task's lines only through `taskmux logs`."""
    if name not in project.config.tasks:
        return False
    _values, problems = resolve(project.config, project.root, name, os.environ, lambda _t: 0)
    return not problems


def task_logs(
    project: Project,
    names: list[str],
    redact: bool = True,
    observe: Callable[[], Observation] | None = None,
) -> list[TaskLog]:
    """The tasks' logs, each with its Redactor: every read through them hides secrets
    (`redact=False` only for `logs --reveal`, on a terminal). `observe`: one look at the
    panes, taken only when a task has variables of its own (a pane's environment holds
    what it was given)."""
    paths = project.paths
    known: dict[str, int] = {}
    if redact and observe is not None and _has_variables(project, names):
        known = {n: s.pid for n, s in observe().tasks.items() if s.is_alive and s.pid}
    return [
        TaskLog(n, paths.log_file(n), task_redactor(project, n, known.get(n)) if redact else None)
        for n in names
    ]


def _has_variables(project: Project, names: list[str]) -> bool:
    config = project.config
    tasks = [config.tasks[n] for n in names]
    return bool(config.env or config.env_file or any(t.env or t.env_file for t in tasks))


def redacted_tail(project: Project, name: str, n: int) -> list[LogLine]:
    """The task's last n log lines with its secrets hidden (for explanations)."""
    logs = task_logs(project, [name])
    return list(redact_lines(tail(logs[0], n), logs))
