"""Checks of a valid config against this machine: missing folders, programs not on PATH."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

from taskmux.errors import Problem
from taskmux.schema import ProjectConfig

_SHELL_WORDS = {"cd", "exec", "export", "env", "source", ".", "set", "eval", "if", "for", "while"}


def program_of(command: str) -> str | None:
    """The program a simple command line runs, or None when shell syntax makes it unclear."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    for word in words:
        if "=" in word.split("/")[0] and not word.startswith("="):
            continue  # VAR=value prefix
        return None if word in _SHELL_WORDS else word
    return None


def environment_problems(root: Path, config: ProjectConfig) -> list[Problem]:
    problems = []
    for name, task in config.tasks.items():
        if task.cwd and not (root / task.cwd).is_dir():
            problems.append(
                Problem(
                    "W120", f"folder {task.cwd!r} does not exist", "warning", task=name, key="cwd"
                )
            )
        program = program_of(task.command)
        if (
            program
            and not ("/" in program and Path(root, program).exists())
            and not shutil.which(program)
        ):
            problems.append(
                Problem(
                    "W121",
                    f"program {program!r} is not on PATH",
                    "warning",
                    task=name,
                    key="command",
                )
            )
    return problems
