"""Everything `taskmux check` reports about a config, located and in the file's order."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from taskmux.config.environment_check import environment_problems
from taskmux.config.locating import by_line
from taskmux.config.project import Project, check_file
from taskmux.config.schema import ProjectConfig
from taskmux.config.taskenv import all_problems
from taskmux.errors import Problem


def check_project(
    path: Path, environ: Mapping[str, str]
) -> tuple[ProjectConfig | None, list[Problem]]:
    """The file's problems and, when it is valid, those of its env files and `${...}`s
    (against `environ`) and of this machine (missing folders, programs not on PATH):
    each with the line of its key where the file has one, sorted by line."""
    config, problems = check_file(path)
    if config is None:
        return None, problems
    project = Project(path, config)
    later = all_problems(config, project.root, environ, lambda _task: 0)
    later += environment_problems(project.root, config)
    return config, by_line(problems + project.located(later))
