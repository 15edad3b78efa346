"""The service's `status` and `inspect`: the config in use and one observation through
the tmux seam, made into rows by the one read model (`readmodel.py`)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from taskmux.config.project import Project, task_facts
from taskmux.errors import SessionConflict
from taskmux.lifecycle import daemonized, readmodel
from taskmux.lifecycle.named_urls import proxy_port

if TYPE_CHECKING:
    from taskmux.config.schema import ProjectConfig, TaskConfig
    from taskmux.runtime.port_guard import Holder
    from taskmux.runtime.state import TaskState
    from taskmux.runtime.tmux_manager import Observation, Tmux


def observe_project(tmux: Tmux, project: Project, rename: bool = False) -> Observation:
    """Observe the project's session (one round trip) and add the kill marks.

    Only a session that taskmux created for this project (tagged `@taskmux_project`) is
    ours, whatever its name: one a person renamed is used, never doubled; with `rename`
    (an action, not a read) it gets its name back if that name is free. Else the
    configured `name` if it is ours or free; else, when another project (a parallel
    checkout) owns it, `name-XXXX` (see `sessions.py`). A session of either name that
    taskmux did not create, or a second one in the way, is refused, for reading too:
    its windows would be mistaken for tasks, added to, or ended.
    """
    from taskmux.runtime.sessions import alternate_name, choose_session

    name = project.session
    owner = project.paths.root.name
    alternate = alternate_name(name, project.paths.checkout_id)
    seen = tmux.observe_sessions([name, alternate], owner)
    owners = {n: o.owner for n, o in seen.items() if o.session_exists}
    choice = choose_session(name, alternate, owner, owners)
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
    observation = replace(seen[choice.session], killed=project.paths.killed_tasks())
    if not choice.moved:
        return observation
    if rename and choice.rename_to:
        if tmux.rename_session(choice.session, choice.rename_to):
            return replace(observation, session=choice.rename_to, renamed_from=choice.session)
        return observe_project(tmux, project)  # another process renamed it first: look again
    return replace(observation, expected=choice.rename_to)


def session_notes(
    project: Project, observation: Observation, rows: list[dict[str, Any]]
) -> list[str]:
    """What `status` says about the session beyond its rows: ours under another name, or
    gone without a `stop` and nothing of it left running (what is left is said by
    `readmodel.status_document`, from the `rows`)."""
    from taskmux.runtime.sessions import alternate_name

    if _lost(project, observation) and not any(row.get("leftover_pids") for row in rows):
        session = observation.session or project.session
        return [
            f"tmux session '{session}' is gone (its tmux server died, or it was ended outside "
            "taskmux) and none of its tasks runs; `taskmux start` starts them again"
        ]
    usual = (project.session, alternate_name(project.session, project.paths.checkout_id))
    if not observation.session_exists or observation.session in usual:
        return []
    text = (
        f"this project's tasks run in tmux session '{observation.session}', renamed from "
        f"'{observation.expected or project.session}'; "
    )
    if observation.expected:
        return [text + "the next start or stop renames it back"]
    return [text + f"'{project.session}' is taken by another session, so taskmux uses it as it is"]


def status_rows(project: Project, observation: Observation) -> list[dict[str, Any]]:
    """One row per task in the config, then windows of tasks no longer in it, then what
    a lost session left running of tasks no longer in it."""
    tasks = project.config.tasks
    leftovers = find_leftovers(project, observation)
    names = list(tasks) + [t for t in observation.tasks if t not in tasks]
    names += [t for t in leftovers if t not in names]
    daemons = daemonized.note_all(project, observation)
    ports = recorded_ports(project)
    now = time.time()
    current = current_ports(project.config, ports)
    root, running = str(project.paths.root), observation.session_exists
    stopped = readmodel.stopped_with_session(root, project.config.name, running)
    return [
        _row(
            project,
            name,
            observation,
            now,
            ports,
            daemons.get(name),
            current,
            leftovers,
            stopped=stopped.get(name),
        )
        for name in names
    ]


def _lost(project: Project, observation: Observation) -> bool:
    """The session ran and is gone, and no `stop` ended it."""
    return readmodel.may_have_leftovers(str(project.paths.root), observation.session_exists)


def find_leftovers(project: Project, observation: Observation) -> dict[str, list[int]]:
    """Pids of the processes a lost session's tasks left running (task -> pids), looked
    for only when the session may have been lost (`readmodel.may_have_leftovers`)."""
    if not readmodel.may_have_leftovers(str(project.paths.root), observation.session_exists):
        return {}
    from taskmux.runtime.procs import marked

    found = marked(project.paths.marker_prefix)
    return {task: [p.pid for p in procs] for task, procs in found.items()}


def current_ports(config: ProjectConfig, ports: dict[str, int]) -> dict[str, int]:
    """Every task's port as it is now: fixed, or automatic once chosen (`ports`)."""
    found = {
        name: ports.get(name) if task.auto_port else int(task.port)
        for name, task in config.tasks.items()
        if task.port is not None
    }
    return {name: port for name, port in found.items() if port is not None}


def _row(
    project: Project,
    name: str,
    observation: Observation,
    now: float,
    ports: dict[str, int],
    daemons: list[Holder] | None,
    current: dict[str, int] | None = None,
    leftovers: dict[str, list[int]] | None = None,
    stopped: str | None = None,
) -> dict[str, Any]:
    task = project.config.tasks.get(name)
    state = observation.tasks.get(name)
    moved = readmodel.moved_ports(state.built_from, current) if state and current else None
    return readmodel.task_row(
        name,
        task_facts(task) if task is not None else None,
        state,
        name in observation.killed,
        now,
        ports,
        str(project.paths.root),
        daemonized.summary(daemons) if daemons else None,
        (leftovers or {}).get(name),
        moved,
        (observation.session, proxy_port(project.config.proxy_port)),
        stopped,
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
    ports = recorded_ports(project)
    current = current_ports(project.config, ports)
    row = _row(project, name, observation, time.time(), ports, found, current)
    return readmodel.inspect_record(
        observation.session, row, task_facts(task), state, env_names(project, name)
    )
