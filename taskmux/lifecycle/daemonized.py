"""Tasks that put themselves in the background (`redis-server --daemonize yes`).

Such a program forks, its parent exits 0 at once and the child (setsid, reparented to
init) keeps serving the port. tmux then shows a pane that "completed" while the server
lives on outside it. A task with a `port` whose pane exited 0 has daemonized when its
port is held by a process that carries the task's marker, or, since a daemon may clear
its environment (redis does, and so the marker goes), by a process of this user without
any marker that started between the launch and the pane's exit. Seen once per exit, it
is recorded as a `daemonized` event with the fix.
"""

from __future__ import annotations

import contextlib
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
    """The task's TASKMUX_MARKER value."""
    return project.paths.marker(task)


# A process's start time is read from the kernel's boot-relative clock, the launch time
# from the wall clock, and tmux says when the pane died in whole seconds: the window in
# which a background child may have started is widened by these margins.
STARTED_BEFORE_LAUNCH = 0.5
STARTED_AFTER_EXIT = 2.0


def launched_by(holder: Holder, marker: str, state: TaskState, uid: int) -> bool:
    """Whether a process on the task's port is the one the task forked away: it carries
    the marker, or it is this user's, has no marker at all (its environment was cleared,
    as `redis-server --daemonize yes` does) and started while the task's pane ran."""
    if holder.marker is not None:
        return holder.marker == marker
    if holder.uid != uid or holder.project is not None or holder.started is None:
        return False
    since = state.running_since  # on the boot clock's footing, as `holder.started` is
    if since is None:
        return False
    if holder.started < since - STARTED_BEFORE_LAUNCH:
        return False
    return state.dead_time is None or holder.started <= state.dead_time + STARTED_AFTER_EXIT


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
    """The processes the task forked away that listen on its port, if it daemonized
    (see `launched_by`).

    `wait`: how long to give the background child to bind after the parent exited.
    """
    port = candidate_port(project, name, state)
    if port is None:
        return []
    from taskmux.runtime import listeners

    marker = task_marker(project, name)
    uid = os.getuid()
    assert state is not None  # a candidate port means a dead pane

    def holders() -> list[Holder]:
        found = listeners.port_holders(port, only_uid=uid)
        return [h for h in found if launched_by(h, marker, state, uid)]

    return wait_until(holders, wait, interval=current(timing).daemonized_poll) or []


def note(
    project: Project,
    name: str,
    state: TaskState,
    wait: float = 0.0,
    timing: Timing | None = None,
) -> list[Holder]:
    """Find a daemonized task's processes and record the `daemonized` event once per exit
    (best effort: a stop on a full disk still ends them, unrecorded)."""
    found = find(project, name, state, wait, timing)
    if found:
        with contextlib.suppress(OSError):
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
