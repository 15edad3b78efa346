"""The pure side of a config reload: what changed between two configs, and what to do.

`diff` compares two validated configs; `plan` turns a diff plus the set of running
tasks into the actions a reload carries out. Neither touches tmux, files or the clock,
so both are tested with tables of cases.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass

from taskmux.config.schema import ProjectConfig, TaskConfig

# Task keys a supervisor reads as it goes: changing only these leaves the process alone.
IN_PLACE_KEYS = frozenset({"watch", "watch_ignore", "watch_cmd"})


@dataclass(frozen=True)
class ConfigDiff:
    """Task names sorted by how they changed, plus the changed top-level keys."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    top_level: tuple[str, ...] = ()  # e.g. ("name", "hooks")
    in_place: tuple[str, ...] = ()  # only IN_PLACE_KEYS changed: no restart needed

    @property
    def session_changed(self) -> bool:
        """The tmux session name changed: every task moves to a new session."""
        return "name" in self.top_level

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.top_level or self.in_place)

    def to_dict(self) -> dict[str, list[str]]:
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": list(self.changed),
            "unchanged": list(self.unchanged),
            "top_level": list(self.top_level),
            "in_place": list(self.in_place),
        }


@dataclass(frozen=True)
class ReloadPlan:
    """What a reload does: stop with the old config, restart and start with the new one."""

    stop: tuple[str, ...] = ()
    restart: tuple[str, ...] = ()
    start: tuple[str, ...] = ()
    end_old_session: bool = False  # the session was renamed: stop every old task

    @property
    def is_empty(self) -> bool:
        return not (self.stop or self.restart or self.start or self.end_old_session)


def diff(old: ProjectConfig, new: ProjectConfig) -> ConfigDiff:
    """Compare two configs task by task (dataclass equality) and key by key at the top.

    A change of the top-level `env` or `env_file` changes every task's environment.
    """
    added = tuple(n for n in new.tasks if n not in old.tasks)
    removed = tuple(n for n in old.tasks if n not in new.tasks)
    common = [n for n in new.tasks if n in old.tasks]
    top_level = tuple(
        f.name
        for f in dataclasses.fields(ProjectConfig)
        if f.name != "tasks"
        and not f.metadata.get("internal")  # `instances`: told by the tasks added or removed
        and getattr(old, f.name) != getattr(new, f.name)
    )
    shared_env = bool({"env", "env_file"} & set(top_level))  # every task's environment

    def is_changed(name: str) -> bool:
        return shared_env or _process(old.tasks[name]) != _process(new.tasks[name])

    changed = tuple(n for n in common if is_changed(n))
    unchanged = tuple(n for n in common if old.tasks[n] == new.tasks[n] and not shared_env)
    in_place = tuple(n for n in common if n not in changed and n not in unchanged)
    return ConfigDiff(added, removed, changed, unchanged, top_level, in_place)


def _process(task: TaskConfig) -> dict[str, object]:
    """What a task's process depends on: every key but those applied in place."""
    return {
        f.name: getattr(task, f.name)
        for f in dataclasses.fields(task)
        if f.name not in IN_PLACE_KEYS
    }


def plan(change: ConfigDiff, new: ProjectConfig, running: Collection[str]) -> ReloadPlan:
    """Decide the actions for a diff, given which tasks run now (alive processes).

    Only running tasks are stopped or restarted: a task the user stopped stays stopped.
    Added `auto_start` tasks start only while the project is up (some task runs) and the
    config's top-level `auto_start` allows it, as a bare `start` would. A renamed session
    ends the old one and starts, in the new one, the tasks that ran before.
    """
    if change.session_changed:
        carried = [n for n in new.tasks if n in running]
        fresh = [n for n in change.added if running and new.auto_start and new.tasks[n].auto_start]
        return ReloadPlan(start=(*carried, *fresh), end_old_session=bool(running))
    stop = tuple(n for n in change.removed if n in running)
    restart = tuple(n for n in change.changed if n in running)
    may_start = bool(running) and new.auto_start
    start = tuple(n for n in change.added if may_start and new.tasks[n].auto_start)
    return ReloadPlan(stop=stop, restart=restart, start=start)
