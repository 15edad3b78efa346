"""What stands in for a config that is invalid and never was valid: tmux's own account.

A typo must not lock the user out of seeing and stopping their tasks. When no valid
config was ever loaded, the project's session (found by the marker taskmux puts on the
sessions it creates) and its task windows are the only truth there is.
"""

from __future__ import annotations

from dataclasses import replace

from taskmux.config.project import Project
from taskmux.config.schema import TaskConfig
from taskmux.runtime.tmux_manager import Tmux


def windows_as_tasks(project: Project, tmux: Tmux) -> Project:
    """The project with one task per task window of its session, as tmux reports them.

    Each such task has the defaults of the schema (stop grace period, no hooks) and, as
    its command, the program its pane runs now.
    """
    owned = tmux.sessions_owned_by(project.paths.root.name)
    session = project.session if project.session in owned or not owned else owned[0]
    observation = tmux.observe(session)
    if not observation.session_exists or observation.owner != project.paths.root.name:
        return replace(project, config=replace(project.config, name=session))
    tasks = {
        name: TaskConfig(command=state.current_command or "?")
        for name, state in observation.tasks.items()
    }
    return replace(project, config=replace(project.config, name=session, tasks=tasks))
