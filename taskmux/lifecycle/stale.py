"""Tasks whose environment holds another task's port that has moved since (issue 23).

A launch records on the task's window which other tasks' ports its environment and
command were built from, with their values (`Context.ports_built_from`). An automatic
port that is chosen again (the old one was taken while its task was stopped) leaves
such a task talking to the old port, where a stranger may answer. It is stale until
it is restarted: `status` says so, a supervisor restarts it once, and a `start`
without one names it.
"""

from __future__ import annotations

from taskmux.config.schema import ProjectConfig
from taskmux.lifecycle import readmodel
from taskmux.lifecycle.status import current_ports
from taskmux.runtime.tmux_manager import Observation


def stale_tasks(
    config: ProjectConfig,
    state_root: str,
    observation: Observation,
    skip: frozenset[str] = frozenset(),
) -> dict[str, dict[str, list[int]]]:
    """Running tasks of the config whose ports moved: task -> {other task: [then, now]}
    (`skip`: tasks not to look at). Reads the automatic ports' file only when some task
    was launched with another's port."""
    candidates = {
        name: state
        for name, state in observation.tasks.items()
        if state.built_from and state.is_alive and name in config.tasks and name not in skip
    }
    if not candidates:
        return {}
    current = current_ports(config, readmodel.recorded_ports(state_root))
    found = {n: readmodel.moved_ports(s.built_from, current) for n, s in candidates.items()}
    return {name: moved for name, moved in found.items() if moved}


def why_stale(moved: dict[str, list[int]]) -> str:
    """`the port of 'api' moved from 5432 to 6001`, for an event, a warning or a notice."""
    parts = [f"'{task}' moved from {then} to {now}" for task, (then, now) in moved.items()]
    return "the port of " + ", of ".join(parts)
