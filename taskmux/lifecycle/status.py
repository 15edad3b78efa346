"""Combine the config and one tmux observation into the rows of `status` and `inspect`."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from taskmux.config.project import Project
from taskmux.config.schema import TaskConfig
from taskmux.errors import SessionConflict
from taskmux.lifecycle import daemonized
from taskmux.runtime.state import TaskState

if TYPE_CHECKING:
    from taskmux.runtime.port_guard import Holder
    from taskmux.runtime.tmux_manager import Observation, Tmux


def observe_project(tmux: Tmux, project: Project) -> Observation:
    """Observe the project's session (one round trip) and add the kill marks.

    Only a session that taskmux created for this project (tagged `@taskmux_project`) is
    ours. The configured `name` if it is ours or free; else, when another project (a
    parallel checkout) owns it, `name-XXXX` (see `sessions.py`). A session of either name
    that taskmux did not create, or a second one in the way, is refused, for reading too:
    its windows would be mistaken for tasks, added to, or ended.
    """
    from taskmux.runtime.sessions import alternate_name, choose_session

    name = project.session
    alternate = alternate_name(name, project.paths.checkout_id)
    seen = tmux.observe_sessions([name, alternate])
    owners = {n: o.owner for n, o in seen.items() if o.session_exists}
    choice = choose_session(name, alternate, project.paths.root.name, owners)
    if choice.conflict is not None:
        whose = (
            f"belongs to another project ({choice.conflict})"
            if choice.conflict
            else "was not created by taskmux for this project"
        )
        raise SessionConflict(
            f"tmux session '{choice.session}' {whose}; taskmux leaves it alone. "
            f'Give this project another session name (name = "..." in {project.path}), '
            "or rename that session (tmux rename-session)"
        )
    return replace(seen[choice.session], killed=project.paths.killed_tasks())


def task_row(
    project: Project,
    name: str,
    observation: Observation,
    now: float,
    daemons: dict[str, list[Holder]] | None = None,
    auto_ports: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Everything status shows about one task, as plain data (JSON-ready).

    `daemons`: the tasks found running in the background after their pane exited 0.
    `port` is the port in use: an automatic one once chosen (`port_auto` says which).
    """
    task = project.config.tasks.get(name)
    state = observation.tasks.get(name)
    row: dict[str, Any] = {"name": name, "in_config": task is not None}
    if task is not None:
        port: int | None = None
        if task.auto_port:
            if auto_ports is None:
                auto_ports = recorded_ports(project)
            port = auto_ports.get(name)
        elif task.port is not None:
            port = int(task.port)
        row |= {
            "command": task.command,
            "auto_start": task.auto_start,
            "port": port,
            "port_auto": task.auto_port,
            "cwd": task.cwd,
            "restart_policy": task.restart_policy,
            "depends_on": task.dependencies,
            "health_check": task.health_check,
            "probe": task.probe,
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
            "probe_reason": None,
            "ready": None,
        }
    else:
        row |= state.to_dict()
        row["ready"] = state.ready_seen if task is not None and task.ready_log else None
        if _is_starting(task, state, now):
            row["state"] = "starting"
        elif _completed_with(task, state):
            row["state"] = f"completed (exit {state.exit_status})"
        if daemons and name in daemons:
            row["state"] = "daemonized"
            row["daemonized"] = daemonized.summary(daemons[name])
        alive_for = now - state.started_at if state.is_alive and state.started_at else None
        row["uptime"] = round(alive_for, 1) if alive_for is not None else None
    row["log_file"] = str(project.paths.log_file(name))
    return row


def _is_starting(task: TaskConfig | None, state: TaskState, now: float) -> bool:
    """Alive, with a probe or ready line, not yet passed nor unhealthy, inside its start-up
    window (`health_start_period`, then `health_retries` checks' worth of time).

    Failed checks of a task that is still coming up show as `health_failures`; the state
    turns "unhealthy" only once `health_retries` of them fail in a row.
    """
    if task is None or not task.needs_check or not state.is_alive or state.started_at is None:
        return False
    if state.health is not None and (state.health.healthy or state.health.unhealthy):
        return False
    window = task.health_start_period + task.health_retries * task.health_interval
    return now - state.started_at < window


def _completed_with(task: TaskConfig | None, state: TaskState) -> bool:
    """Exited by itself with a success code other than 0 (0 already reads "completed")."""
    if task is None or not state.dead or state.manually_stopped or state.gave_up:
        return False
    if state.next_restart_at is not None or state.exit_status in (0, None):
        return False
    return task.is_success(state.exit_status, state.exit_signal)


def recorded_ports(project: Project) -> dict[str, int]:
    """The automatic ports chosen so far (none chosen here: reading stays read-only)."""
    if not any(t.auto_port for t in project.config.tasks.values()):
        return {}
    from taskmux.runtime.ports import PortBook

    return PortBook(project.paths, project.config).recorded()


def status_rows(project: Project, observation: Observation) -> list[dict[str, Any]]:
    """One row per task in the config, then windows of tasks no longer in it."""
    now = time.time()
    names = list(project.config.tasks) + [
        t for t in observation.tasks if t not in project.config.tasks
    ]
    daemons = daemonized.note_all(project, observation)
    ports = recorded_ports(project)
    return [task_row(project, name, observation, now, daemons, ports) for name in names]


def env_names(project: Project, name: str, observation: Observation) -> dict[str, Any]:
    """The names (never the values) of the variables a task gets from its config and
    from taskmux, and the problems that would stop it from starting."""
    import os

    from taskmux.config.taskenv import resolve

    ports = recorded_ports(project)
    task = project.config.tasks[name]

    def port_of(target: str) -> int | None:
        spec = project.config.tasks.get(target)
        if spec is None or spec.port is None:
            return None
        return ports.get(target, 0) if spec.auto_port else int(spec.port)

    values, problems = resolve(project.config, project.root, name, os.environ, port_of)
    own = ["TASKMUX_PROJECT", "TASKMUX_TASK"] + (["PORT"] if task.port is not None else [])
    return {
        "env_names": sorted(set(values) | set(own)),
        "env_problems": [p.render() for p in project.located(problems)],
    }


def inspect_row(project: Project, name: str, observation: Observation) -> dict[str, Any]:
    """The `inspect` record: a status row plus the task's real pid (not its `sh -c`)."""
    from taskmux.runtime.childpid import real_pid

    project.task(name)
    state = observation.tasks.get(name)
    found = daemonized.note(project, name, state) if state is not None else []
    daemons = {name: found} if found else None
    row = {
        "session": observation.session,
        **task_row(project, name, observation, time.time(), daemons),
    }
    row |= env_names(project, name, observation)
    row["pane_pid"] = state.pid if state else None
    row["pid"] = real_pid(row.get("pid"))
    task = project.config.tasks.get(name)
    if task is not None:
        row |= {
            "dependencies": [
                {"task": dep.task, "condition": dep.condition} for dep in task.depends_on
            ],
            "health_url": task.health_url,
            "health_expect_status": task.health_expect_status,
            "health_expect_body": task.health_expect_body,
            "health_tcp": task.tcp_port,
            "ready_log": task.ready_log,
            "health_start_period": task.health_start_period,
            "success_exit_codes": task.success_exit_codes,
            "stop_signal": task.stop_signal,
            "restart_delay": task.restart_delay,
        }
    if task is None or not task.needs_check:
        row["healthy"] = row.get("running")  # without a check, healthy means alive
    return row
