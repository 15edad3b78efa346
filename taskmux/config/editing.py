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
    """Write a new task table (or, with `force`, replace one, the comments below it kept:
    `ClosingComments`); return the new project."""
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

    closing = ClosingComments()

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
        if task in tasks:
            closing.take(tasks[task])
        tasks[task] = table

    return edit_config(path, mutate, after_write, finish=closing.put_back)


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
    """Delete the task's table (the comments below it kept: `ClosingComments`); return the
    new project."""

    closing = ClosingComments()

    def mutate(document: Any) -> None:
        tasks = document.get("tasks")
        if not isinstance(tasks, dict) or task not in tasks:  # a concurrent remove won
            raise TaskNotFound(f"task '{task}' not found in {path.name}")
        closing.take(tasks[task])
        del tasks[task]

    return edit_config(path, mutate, after_write, finish=closing.put_back)


class ClosingComments:
    """The comment lines below a table's last key, kept when the table is removed or
    replaced: TOML gives a table every comment up to the next header, so the next task's
    heading, or tasks commented out at the end of the file, would go with the table above
    them. Comments between the table's own keys go with it."""

    def __init__(self) -> None:
        self.text = ""

    def take(self, table: Any) -> None:
        """Note the table's closing comments (as tomlkit read them), before it goes."""
        from tomlkit.items import Comment, Table

        if not isinstance(table, Table):
            return  # an inline table holds no comment lines
        body = table.value.body
        last = next((item for key, item in reversed(body) if key is not None), None)
        if isinstance(last, Table):
            self.take(last)  # a sub-table's header came last: what follows is its own
            return
        trailing = []
        for key, item in reversed(body):
            if key is not None:
                break
            trailing.append(item)
        trailing.reverse()
        first = next((i for i, item in enumerate(trailing) if isinstance(item, Comment)), None)
        if first is not None:
            self.text = "".join(item.as_string() for item in trailing[first:])

    def put_back(self, read: str, edited: str) -> str:
        """`edited` with the noted comments where the removed lines ended (after the lines
        that replaced them); `edited` itself should that change any value."""
        if not self.text.strip():
            return edited
        before, after = _lines(read), _lines(edited)
        head = 0
        while head < min(len(before), len(after)) and before[head] == after[head]:
            head += 1
        tail = 0
        while tail < min(len(before), len(after)) - head and before[-1 - tail] == after[-1 - tail]:
            tail += 1
        at = len(after) - tail
        newline = "\r\n" if read.endswith("\r\n") or "\r\n" in read[:4096] else "\n"
        block = self.text if self.text.endswith("\n") else self.text + newline
        if at and after[at - 1].strip(" \t\r\n"):  # a blank line, as above the table
            block = newline + block
        kept = "".join(after[:at]) + block + "".join(after[at:])
        import tomllib

        try:
            same = tomllib.loads(kept) == tomllib.loads(edited)
        except tomllib.TOMLDecodeError:
            same = False
        return kept if same else edited


def _lines(text: str) -> list[str]:
    """Lines ended by "\\n" alone (TOML's line ends; `splitlines` also breaks at U+2028 and
    form feeds, which a TOML string may hold)."""
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


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
