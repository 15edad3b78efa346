"""What a task was launched with, as one digest (`launchrecord.py`): how `ensure` tells
a current task from a stale one. Each launch writes it (`record`); a task launched by a
taskmux that wrote none counts as current, and `ensure` records its definition then."""

from __future__ import annotations

import dataclasses

from taskmux.config.project import Project
from taskmux.lifecycle import launchrecord
from taskmux.statedir.files import ensure_private_dir, write_private


def digest(project: Project, name: str) -> str:
    """The task's definition as it is in `project` now (env files read as they are now)."""
    config = project.config
    task = config.tasks[name]
    files = launchrecord.env_file_paths(str(project.root), [*config.env_files, *task.env_files])
    return launchrecord.digest(dataclasses.asdict(task), dict(config.env), config.env_file, files)


def record(project: Project, name: str, value: str | None = None) -> None:
    """Write the digest of the definition a launch of `name` is about to run."""
    folder = project.paths.root / launchrecord.FOLDER
    ensure_private_dir(folder)
    write_private(folder / name, (value or digest(project, name)).encode())


def recorded(project: Project, name: str) -> str | None:
    return launchrecord.recorded(str(project.paths.root), name)
