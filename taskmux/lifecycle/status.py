"""The service's `status` and `inspect`: the config in use and one observation through
the tmux seam, made into rows by the one read model (`readmodel.py`)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from taskmux.config.project import Project, task_facts
from taskmux.errors import SessionConflict
from taskmux.lifecycle import daemonized, readmodel

if TYPE_CHECKING:
    from taskmux.config.schema import TaskConfig
    from taskmux.runtime.port_guard import Holder
    from taskmux.runtime.state import TaskState
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


def status_rows(project: Project, observation: Observation) -> list[dict[str, Any]]:
    """One row per task in the config, then windows of tasks no longer in it."""
    tasks = project.config.tasks
    names = list(tasks) + [t for t in observation.tasks if t not in tasks]
    daemons = daemonized.note_all(project, observation)
    ports = recorded_ports(project)
    now = time.time()
    return [_row(project, name, observation, now, ports, daemons.get(name)) for name in names]


def _row(
    project: Project,
    name: str,
    observation: Observation,
    now: float,
    ports: dict[str, int],
    daemons: list[Holder] | None,
) -> dict[str, Any]:
    task = project.config.tasks.get(name)
    return readmodel.task_row(
        name,
        task_facts(task) if task is not None else None,
        observation.tasks.get(name),
        name in observation.killed,
        now,
        ports,
        str(project.paths.root),
        daemonized.summary(daemons) if daemons else None,
    )


def _is_starting(task: TaskConfig | None, state: TaskState, now: float) -> bool:
    """`readmodel`'s start-up window rule for a task of the config in use."""
    return readmodel.is_starting(task_facts(task) if task is not None else None, state, now)


def recorded_ports(project: Project) -> dict[str, int]:
    """The automatic ports chosen so far (none chosen here: reading stays read-only)."""
    if not any(t.auto_port for t in project.config.tasks.values()):
        return {}
    return readmodel.recorded_ports(str(project.paths.root))


def env_names(project: Project, name: str) -> dict[str, Any]:
    """The names (never the values) of the variables a task gets from its config and
    from taskmux, and the problems that would stop it from starting."""
    import os

    from taskmux.config.taskenv import resolve

    ports = recorded_ports(project)

    def port_of(target: str) -> int | None:
        spec = project.config.tasks.get(target)
        if spec is None or spec.port is None:
            return None
        return ports.get(target, 0) if spec.auto_port else int(spec.port)

    values, problems = resolve(project.config, project.root, name, os.environ, port_of)
    own = readmodel.own_env_names(task_facts(project.config.tasks[name]))
    return {
        "env_names": sorted(set(values) | set(own)),
        "env_problems": [p.render() for p in project.located(problems)],
    }


def inspect_row(project: Project, name: str, observation: Observation) -> dict[str, Any]:
    """The `inspect` record: a status row plus the task's real pid (not its `sh -c`)."""
    task = project.task(name)
    state = observation.tasks.get(name)
    found = daemonized.note(project, name, state) if state is not None else []
    row = _row(project, name, observation, time.time(), recorded_ports(project), found)
    return readmodel.inspect_record(
        observation.session, row, task_facts(task), state, env_names(project, name)
    )
