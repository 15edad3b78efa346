"""What taskmux knows about a task at one moment, and the words it uses for it.

A `TaskState` is built from one tmux observation; everything here is pure, so status,
inspect, the supervisor and the tests share one reading of the facts.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


@dataclass(frozen=True)
class Health:
    """The last health verdict stored on the task's window, shared by every process."""

    healthy: bool
    checked_at: float
    failures: int
    run: float | None = None  # started_at of the run that was checked

    def encode(self) -> str:
        run = f"{self.run:.3f}" if self.run is not None else "-"
        return f"{'ok' if self.healthy else 'fail'} {self.checked_at:.3f} {self.failures} {run}"

    @classmethod
    def decode(cls, text: str, current_run: float | None = None) -> Health | None:
        """The stored verdict, or None if it belongs to an earlier run of the task."""
        parts = text.split()
        if len(parts) != 4:
            return None
        try:
            run = None if parts[3] == "-" else float(parts[3])
            health = cls(parts[0] == "ok", float(parts[1]), int(parts[2]), run)
        except ValueError:
            return None
        if run is not None and current_run is not None and abs(run - current_run) > 0.0005:
            return None  # a slow check of the previous run finished after a restart
        return health


@dataclass(frozen=True)
class TaskState:
    """One task's window and pane as tmux reports them, plus taskmux's shared marks."""

    task: str
    window_id: str
    pane_id: str
    pid: int | None
    dead: bool
    exit_status: int | None
    exit_signal: int | None
    dead_time: float | None
    current_command: str
    current_path: str
    piped: bool
    manually_stopped: bool
    restarts: int
    started_at: float | None
    gave_up: bool
    next_restart_at: float | None
    health: Health | None
    seen_exit: str = ""  # identity of the death a supervisor already reported

    @property
    def death_id(self) -> str:
        """Identifies this particular death, so each is reported once across processes."""
        return f"{self.pid}:{self.dead_time}" if self.dead else ""

    @property
    def is_alive(self) -> bool:
        return not self.dead

    @property
    def exit_pending(self) -> bool:
        """tmux 3.3a: the pane is dead but its status is not known yet."""
        return self.dead and self.exit_status is None and self.exit_signal is None

    def describe(self) -> str:
        """The state word(s) a person reads in `status`."""
        if self.is_alive:
            if self.health is not None and not self.health.healthy:
                return "unhealthy"
            return "running"
        if self.gave_up:
            return f"gave up ({self.exit_text()})"
        if self.manually_stopped:
            return "stopped"
        if self.next_restart_at is not None:
            return f"restarting ({self.exit_text()})"
        return self.exit_text()

    def exit_text(self) -> str:
        if self.exit_signal is not None:
            return f"killed by {signal_name(self.exit_signal)}"
        if self.exit_status is not None:
            return "completed" if self.exit_status == 0 else f"exited {self.exit_status}"
        return "exited (status unknown)"

    def to_dict(self) -> dict[str, object]:
        return {
            "state": self.describe(),
            "running": self.is_alive,
            "pid": self.pid if self.is_alive else None,
            "exit_code": self.exit_status if self.dead and self.exit_signal is None else None,
            "signal": signal_name(self.exit_signal) if self.exit_signal is not None else None,
            "window_id": self.window_id,
            "pane_id": self.pane_id,
            "pane_current_command": self.current_command,
            "pane_current_path": self.current_path,
            "manually_stopped": self.manually_stopped,
            "restart_count": self.restarts,
            "gave_up": self.gave_up,
            "started_at": self.started_at,
            "exited_at": self.dead_time if self.dead else None,
            "next_restart_at": self.next_restart_at,
            "healthy": None if self.health is None else self.health.healthy,
            "health_checked_at": None if self.health is None else self.health.checked_at,
        }
