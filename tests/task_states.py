"""A task's observed state for the pure deciders' table tests, with one line per case."""

from __future__ import annotations

from taskmux.runtime.state import TaskState


def task_state(**overrides: object) -> TaskState:
    """A running task `t` started at 1000.0; `overrides` set the facts a case is about."""
    base: dict[str, object] = {
        "task": "t", "window_id": "@1", "pane_id": "%1", "pid": 10, "dead": False,
        "exit_status": None, "exit_signal": None, "dead_time": None, "current_command": "sh",
        "current_path": "/", "piped": True, "manually_stopped": False, "restarts": 0,
        "started_at": 1000.0, "gave_up": False, "next_restart_at": None, "health": None,
    }  # fmt: skip
    base.update(overrides)
    return TaskState(**base)  # type: ignore[arg-type]
