"""Tasks that put themselves in the background (`redis-server --daemonize yes`).

Such a program forks, its parent exits 0 at once and the child (setsid, reparented to
init) keeps serving the port. tmux then shows a pane that "completed" while the server
lives on outside it. The child still carries the task's marker, so it can be found: a
task with a `port` whose pane exited 0 while a process with its marker listens there
has daemonized. Seen once per exit, it is recorded as a `daemonized` event with the fix.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from taskmux.logs.events import EventLog
from taskmux.runtime.port_guard import Holder, foreground_hint
from taskmux.runtime.timing import Timing, current, wait_until
from taskmux.statedir.filelock import locked

if TYPE_CHECKING:
    from taskmux.config.project import Project
    from taskmux.runtime.state import TaskState
    from taskmux.runtime.tmux_manager import Observation


def task_marker(project: Project, task: str) -> str:
    """The task's TASKMUX_MARKER value (the same string Lifecycle.marker builds)."""
    return f"{project.paths.root.name}/{task}"


def candidate_port(project: Project, name: str, state: TaskState | None) -> int | None:
    """The task's port if its pane exited 0 (the sign of a program that forked away)."""
    task = project.config.tasks.get(name)
    if task is None or task.port is None or state is None or not state.dead:
        return None
    if state.exit_signal is not None or state.exit_status != 0:
        return None
    if task.auto_port:  # the one chosen for it, if any (reading never chooses one)
        from taskmux.runtime.ports import PortBook

        return PortBook(project.paths, project.config).port_of(name, assign=False)
    return int(task.port)


def find(
    project: Project,
    name: str,
    state: TaskState | None,
    wait: float = 0.0,
    timing: Timing | None = None,
) -> list[Holder]:
    """The processes with the task's marker that listen on its port, if it daemonized.

    `wait`: how long to give the background child to bind after the parent exited.
    """
    port = candidate_port(project, name, state)
    if port is None:
        return []
    from taskmux.runtime import listeners

    marker = task_marker(project, name)

    def holders() -> list[Holder]:
        found = listeners.port_holders(port, only_uid=os.getuid())
        return [h for h in found if h.marker == marker]

    return wait_until(holders, wait, interval=current(timing).daemonized_poll) or []


def note(
    project: Project,
    name: str,
    state: TaskState,
    wait: float = 0.0,
    timing: Timing | None = None,
) -> list[Holder]:
    """Find a daemonized task's processes and record the `daemonized` event once per exit."""
    found = find(project, name, state, wait, timing)
    if found:
        record(project, name, state, found)
    return found


def note_all(project: Project, observation: Observation) -> dict[str, list[Holder]]:
    """Every daemonized task of an observation (no process scan unless a pane exited 0)."""
    result = {}
    for name, state in observation.tasks.items():
        if candidate_port(project, name, state) is not None and (
            found := note(project, name, state)
        ):
            result[name] = found
    return result


def advice(holders: list[Holder]) -> str:
    """What the person should do about it."""
    return foreground_hint(holders[0].command if holders else "")


def summary(holders: list[Holder]) -> dict[str, object]:
    """What status, inspect and the event say about the background processes."""
    return {
        "pids": [h.pid for h in holders],
        "commands": [h.command for h in holders],
        "fix": advice(holders),
    }


def record(project: Project, name: str, state: TaskState, holders: list[Holder]) -> None:
    """Append the `daemonized` event unless this exit of the task was already recorded."""
    events = EventLog(project.paths.events)
    death = state.death_id
    # A lock of its own, held for a moment: a status call never waits on a start.
    with locked(events.path.with_name("daemonized.lock")):
        seen = events.select(task=name)
        if any(e.get("event") == "daemonized" and e.get("death") == death for e in seen):
            return
        port = candidate_port(project, name, state)
        events.append("daemonized", name, port=port, death=death, **summary(holders))
