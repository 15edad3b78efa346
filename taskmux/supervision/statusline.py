"""The taskmux session's own tmux status line: one short coloured tag per task, kept
current by the supervisor. Only that session's options change (`set-option -t`, never
`-g`): the user's other sessions and global options are left as they are.

`tags` is pure (what each task shows); `StatusLine` sets the option when the text
changes, and unsets it when supervision ends (a line nobody keeps current would lie).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskmux.config.project import task_facts
from taskmux.lifecycle.readmodel import is_starting

if TYPE_CHECKING:
    from taskmux.config.schema import ProjectConfig
    from taskmux.runtime.state import TaskState
    from taskmux.runtime.tmux_manager import Observation
    from taskmux.supervision.seam import Supervised

# kind -> (sign, tmux colour)
LOOKS = {
    "running": ("●", "green"),
    "starting": ("◐", "yellow"),
    "unhealthy": ("▲", "magenta"),
    "exited": ("✗", "red"),
    "stopped": ("○", "colour244"),
}


def kind_of(task_state: TaskState | None, facts: dict[str, object] | None, now: float) -> str:
    """Which of the five a task is: running, starting, unhealthy, exited (or gave up),
    stopped (never started, stopped by hand, or a one-shot that completed)."""
    state = task_state
    if state is None or state.manually_stopped:
        return "stopped"
    if state.is_alive:
        if state.health is not None and state.health.unhealthy:
            return "unhealthy"
        return "starting" if is_starting(facts, state, now) else "running"
    if state.gave_up:
        return "exited"
    succeeded = state.exit_signal is None and state.exit_status is not None
    codes = facts.get("success_exit_codes") if facts is not None else [0]
    if succeeded and isinstance(codes, list) and state.exit_status in codes:
        return "stopped"
    return "exited"


def tags(config: ProjectConfig, observation: Observation, now: float) -> str:
    """The status line's text: `#[fg=green]●api #[fg=red]✗worker …#[default]`."""
    parts = []
    for name, task in config.tasks.items():
        kind = kind_of(observation.tasks.get(name), task_facts(task), now)
        sign, colour = LOOKS[kind]
        parts.append(f"#[fg={colour}]{sign}{name}")  # task names hold no `#`
    return " ".join(parts) + "#[default] " if parts else ""


class StatusLine:
    """The session's `status-right`, set when its text changes."""

    def __init__(self) -> None:
        self.shown: tuple[str, str] | None = None  # (session, text)

    def show(self, project: Supervised, observation: Observation, now: float) -> None:
        if not observation.session_exists:
            self.shown = None  # a new session starts without our option
            return
        text = tags(project.config, observation, now)
        session = observation.session or project.session
        if self.shown == (session, text):
            return
        project.set_status_line(session, text)
        self.shown = (session, text)

    def clear(self, project: Supervised) -> None:
        if self.shown is not None:
            project.set_status_line(self.shown[0], None)
            self.shown = None
