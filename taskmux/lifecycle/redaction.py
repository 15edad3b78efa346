"""Where the secrets to hide come from: each task's resolved `env`/`env_file` and `secrets`.

Every read of a task's output for a user (the service's log reads, `wait`/`start`
explanations) takes its log through `task_logs`, so the lines come back with the
task's secret values replaced by `[redacted:NAME]` (`logs/redact.py`).
"""

from __future__ import annotations

import os

from taskmux.config.project import Project
from taskmux.config.taskenv import resolve
from taskmux.logs.lines import LogLine, TaskLog
from taskmux.logs.reading import tail
from taskmux.logs.redact import Redactor, redact_lines, secret_values


def task_redactor(project: Project, name: str) -> Redactor | None:
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
    found = secret_values(values, [*config.secrets, *spec.secrets])
    return Redactor(found) if found else None


def task_logs(project: Project, names: list[str], redact: bool = True) -> list[TaskLog]:
    """The tasks' logs, each with its Redactor: every read through them hides secrets
    (`redact=False` only for `logs --reveal`, on a terminal)."""
    paths = project.paths
    return [TaskLog(n, paths.log_file(n), _redactor(project, n, redact)) for n in names]


def _redactor(project: Project, name: str, redact: bool) -> Redactor | None:
    return task_redactor(project, name) if redact else None


def redacted_tail(project: Project, name: str, n: int) -> list[LogLine]:
    """The task's last n log lines with its secrets hidden (for explanations)."""
    logs = task_logs(project, [name])
    return list(redact_lines(tail(logs[0], n), logs))
