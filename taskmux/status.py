"""Combine the config and one tmux observation into the rows of `status` and `inspect`."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from taskmux.config import Project
from taskmux.errors import SessionConflict
from taskmux.schema import TaskConfig
from taskmux.state import TaskState

if TYPE_CHECKING:
    from taskmux.tmux_manager import Observation, Tmux


def observe_project(tmux: Tmux, project: Project) -> Observation:
    """Observe the project's session (one round trip) and add the kill marks.

    Two projects with the same session name would otherwise act on each other's tasks,
    so a session created by another project is refused.
    """
    observation = tmux.observe(project.session)
    owner = project.paths.root.name
    if observation.owner and observation.owner != owner:
        raise SessionConflict(
            f"tmux session '{project.session}' belongs to another project "
            f"({observation.owner}); give this one its own `name` in {project.path}"
        )
    return replace(observation, killed=project.paths.killed_tasks())


def task_row(project: Project, name: str, observation: Observation, now: float) -> dict[str, Any]:
    """Everything status shows about one task, as plain data (JSON-ready)."""
    task = project.config.tasks.get(name)
    state = observation.tasks.get(name)
    row: dict[str, Any] = {"name": name, "in_config": task is not None}
    if task is not None:
        row |= {
            "command": task.command,
            "auto_start": task.auto_start,
            "port": task.port,
            "cwd": task.cwd,
            "restart_policy": task.restart_policy,
            "depends_on": list(task.depends_on),
            "health_check": task.health_check,
        }
    if state is None:
        killed = name in observation.killed
        row |= {
            "state": "killed" if killed else "not started",
            "running": False,
            "pid": None,
            "manually_stopped": killed,
            "restart_count": 0,
            "healthy": None,
            "health_failures": 0,
        }
    else:
        row |= state.to_dict()
        if _is_starting(task, state, now):
            row["state"] = "starting"
        alive_for = now - state.started_at if state.is_alive and state.started_at else None
        row["uptime"] = round(alive_for, 1) if alive_for is not None else None
    row["log_file"] = str(project.paths.log_file(name))
    return row


def _is_starting(task: TaskConfig | None, state: TaskState, now: float) -> bool:
    """Alive, health-checked, not yet passed nor unhealthy, inside its start-up window.

    Failed checks of a task that is still coming up show as `health_failures`; the state
    turns "unhealthy" only once `health_retries` of them fail in a row.
    """
    if task is None or not task.health_check or not state.is_alive or state.started_at is None:
        return False
    if state.health is not None and (state.health.healthy or state.health.unhealthy):
        return False
    return now - state.started_at < task.health_retries * task.health_interval


def status_rows(project: Project, observation: Observation) -> list[dict[str, Any]]:
    """One row per task in the config, then windows of tasks no longer in it."""
    now = time.time()
    names = list(project.config.tasks) + [
        t for t in observation.tasks if t not in project.config.tasks
    ]
    return [task_row(project, name, observation, now) for name in names]


def inspect_row(project: Project, name: str, observation: Observation) -> dict[str, Any]:
    """The `inspect` record: a status row plus the task's real pid (not its `sh -c`)."""
    from taskmux import procs

    project.task(name)
    row = task_row(project, name, observation, time.time())
    state = observation.tasks.get(name)
    row["pane_pid"] = state.pid if state else None
    row["pid"] = procs.real_pid(row.get("pid"))
    if not row.get("health_check"):
        row["healthy"] = row.get("running")  # without a check, healthy means alive
    return row
