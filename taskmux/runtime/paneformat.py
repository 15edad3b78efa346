"""How taskmux asks tmux about every pane in one `list-panes` call, and reads the answer.

Standard library only and nothing else: the tmux seam (`tmux_manager.py`) and the lean
`status --json` path (`cli/lean_status.py`) both read with it, so the two cannot drift.
An empty or odd number field is None, never an error.
"""

from __future__ import annotations

SEP = "\x1f"
FIELDS = (
    "pid",  # the tmux server's: tells a server that died from a session that was ended
    "session_name",
    "@taskmux_project",  # a session option: the project that created the session
    "window_id",
    "pane_id",
    "pane_pid",
    "pane_dead",
    "pane_dead_status",
    "pane_dead_signal",
    "pane_dead_time",
    "pane_current_command",
    "pane_current_path",
    "pane_pipe",
    "@taskmux_task",
    "@taskmux_stopped",
    "@taskmux_restarts",
    "@taskmux_started",
    "@taskmux_gave_up",
    "@taskmux_next_restart",
    "@taskmux_health",
    "@taskmux_seen",
    "@taskmux_ready",
)
FORMAT = "pane" + SEP + SEP.join(f"#{{{f}}}" for f in FIELDS)


def as_int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def as_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
