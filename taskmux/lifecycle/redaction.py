"""Where the secrets to hide come from: each task's resolved `env`/`env_file` and `secrets`.

Every read of a task's output for a user (the service's log reads, `wait`/`start`
explanations) takes its log through `task_logs`, so the lines come back with the
task's secret values replaced by `[redacted:NAME]` (`logs/redact.py`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from taskmux.config.project import Project
from taskmux.config.taskenv import resolve
from taskmux.logs.lines import LogLine, TaskLog
from taskmux.logs.reading import tail
from taskmux.logs.redact import Redactor, redact_lines, secret_values
from taskmux.statedir.files import read_trusted, write_private

_KEPT = 64  # values remembered a task: a secret rotated since is still hidden in old lines


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
    found = recorded(project, name) | secret_values(values, [*config.secrets, *spec.secrets])
    return Redactor(found) if found else None


def record(project: Project, name: str, env: Mapping[str, str]) -> None:
    """Remember the secret values a launch gave the task (0600, in the state folder): a
    reader whose environment differs from the starter's (another shell, the daemon, the
    MCP server) resolves `${VAR}` differently, and must still hide what the task got."""
    spec = project.config.tasks[name]
    found = secret_values(env, [*project.config.secrets, *spec.secrets])
    known = recorded(project, name)
    if not found or found.items() <= known.items():
        return
    path = _file(project, name)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    kept = dict(list({**known, **found}.items())[-_KEPT:])
    with contextlib.suppress(OSError):  # a full disk: the read still hides what it resolves
        write_private(path, json.dumps(kept))


def recorded(project: Project, name: str) -> dict[str, str]:
    """{value: NAME} of what launches of the task were given (empty when none is known)."""
    raw = read_trusted(_file(project, name))
    try:
        found = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {str(k): str(v) for k, v in found.items()}


def _file(project: Project, name: str) -> Path:
    return project.paths.root / "secrets" / f"{name}.json"


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
