"""Edits of taskmux.toml that the `add` and `remove` operations make.

Each is one mutation of the TOML document under the config lock (`config.edit_config`):
comments and layout survive, the result is validated before it is written, and the
caller's `after_write` (the agent context blocks) runs in the same locked step.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from taskmux.config.project import Project, edit_config
from taskmux.errors import TaskExists, TaskHasDependents, TaskNotFound

AfterWrite = Callable[[Project], None]
"""Run under the config lock after a write (the service refreshes agents' context files)."""


def add_task(
    path: Path,
    task: str,
    command: str,
    *,
    cwd: str | None = None,
    port: int | str | None = None,
    health_check: str | None = None,
    depends_on: list[str] | None = None,
    restart_policy: str | None = None,
    auto_start: bool = True,
    env: dict[str, str] | None = None,
    env_file: list[str] | None = None,
    force: bool = False,
    after_write: AfterWrite | None = None,
) -> Project:
    """Write a new task table (or, with `force`, replace one, the comments below it kept);
    return the new project."""
    values: dict[str, Any] = {"command": command}
    optional = {"cwd": cwd, "port": port, "health_check": health_check}
    values |= {k: v for k, v in optional.items() if v is not None}
    if restart_policy is not None:
        values["restart_policy"] = restart_policy
    if not auto_start:
        values["auto_start"] = False
    if depends_on:
        values["depends_on"] = list(dict.fromkeys(depends_on))  # `--depends-on a` twice: once
    if env_file:
        values["env_file"] = env_file[0] if len(env_file) == 1 else list(env_file)

    def mutate(document: Any) -> None:
        import tomlkit

        tasks = document.setdefault("tasks", tomlkit.table(is_super_table=True))
        if not isinstance(tasks, dict):
            return  # `tasks` is not a table: leave it, validation reports it (E112)
        if task in tasks and not force:
            raise TaskExists(f"task '{task}' already exists (use --force to replace it)")
        table = tomlkit.table()
        table.update(values)
        if env:
            table["env"] = tomlkit.inline_table()
            table["env"].update(env)
        tasks[task] = table

    return edit_config(path, mutate, after_write, finish=keep_closing_comments)


def check_removable(project: Project, task: str) -> None:
    """Refuse to remove a task that does not exist or that others depend on."""
    from taskmux.config.deps import dependents

    project.task(task)
    users = dependents(project.config.graph(), task)
    if users:
        raise TaskHasDependents(
            f"cannot remove '{task}': {', '.join(repr(u) for u in users)} depend(s) on it"
        )


def remove_task(path: Path, task: str, after_write: AfterWrite | None = None) -> Project:
    """Delete the task's table (the comments that close it kept); return the new project."""

    def mutate(document: Any) -> None:
        tasks = document.get("tasks")
        if not isinstance(tasks, dict) or task not in tasks:  # a concurrent remove won
            raise TaskNotFound(f"task '{task}' not found in {path.name}")
        del tasks[task]

    return edit_config(path, mutate, after_write, finish=keep_closing_comments)


def keep_closing_comments(read: str, edited: str) -> str:
    """Put back the comment lines that closed the lines an edit removed or replaced: TOML
    gives a table every comment up to the next header, so a heading of the next task, or
    tasks commented out at the end of the file, would go with the table above them.
    Comments between the table's keys go with it."""
    before, after = read.splitlines(keepends=True), edited.splitlines(keepends=True)
    head = 0
    while head < min(len(before), len(after)) and before[head] == after[head]:
        head += 1
    tail = 0
    while tail < min(len(before), len(after)) - head and before[-1 - tail] == after[-1 - tail]:
        tail += 1
    removed = before[head : len(before) - tail]
    last = max((i for i, line in enumerate(removed) if not _trivia(line)), default=-1)
    closing = removed[last + 1 :]
    first = next((i for i, line in enumerate(closing) if line.strip()), len(closing))
    closing = closing[first:]
    if not closing:
        return edited
    if closing[-1][-1:] != "\n":
        closing[-1] += "\n"
    at = len(after) - tail  # the end of what replaced them (nothing: where they were)
    if at and after[at - 1].strip():  # a blank line, as above the removed table
        closing.insert(0, "\r\n" if after[at - 1].endswith("\r\n") else "\n")
    return "".join(after[:at] + closing + after[at:])


def _trivia(line: str) -> bool:
    """A blank or comment-only line."""
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def set_replicas(
    path: Path, task: str, replicas: int, after_write: AfterWrite | None = None
) -> Project:
    """Write `replicas = N` into the task's table of taskmux.toml (its comments kept)."""
    import tomllib

    from taskmux.config.cache import local_config
    from taskmux.errors import UsageError

    local = Path(local_config(str(path)))
    if local.exists():
        body = tomllib.loads(local.read_text(encoding="utf-8")).get("tasks", {}).get(task, {})
        if isinstance(body, dict) and "replicas" in body:
            raise UsageError(
                f"{local.name} sets replicas for '{task}' (over {path.name}): "
                "change it there, or remove it there first"
            )

    def mutate(document: Any) -> None:
        tasks = document.get("tasks")
        if not isinstance(tasks, dict) or not isinstance(tasks.get(task), dict):
            where = f"; it is declared in {local.name}" if local.exists() else ""
            raise TaskNotFound(f"task '{task}' not found in {path.name}{where}")
        tasks[task]["replicas"] = replicas

    return edit_config(path, mutate, after_write)
